"""GRIDGOV_DATA_DIR moves the data folder (cluster, photos, secrets) out of the checkout."""
import os
import subprocess
import sys

from db.config import ROOT


def _ask(env_extra: dict, expr: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GRIDGOV_DATA_DIR", "GRIDGOV_PHOTO_DIR")}
    env.update(env_extra)
    code = f"import db.config as c, intake.settings as s; print(repr(({expr},)))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                          capture_output=True, check=True).stdout.strip()


def test_data_dir_moves_var_photos_and_secrets(tmp_path):
    out = _ask({"GRIDGOV_DATA_DIR": str(tmp_path)},
               "c.VAR, c.photo_dir(), c.APP_PASSWORD_FILE, s.Settings().photo_dir")
    assert out == repr((tmp_path, tmp_path / "photos", tmp_path / "pg-app-password", tmp_path / "photos"))


def test_photo_dir_overrides_and_default():
    assert _ask({}, "c.VAR == c.ROOT / 'var', str(c.photo_dir())") == repr((True, str(ROOT / "var" / "photos")))
    assert _ask({"GRIDGOV_PHOTO_DIR": "/srv/p"}, "str(c.photo_dir()), str(s.Settings().photo_dir)") == repr(("/srv/p", "/srv/p"))
