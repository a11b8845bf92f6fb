"""The planner's workspace (网格规划): drafts of the grid boundaries, edits, undo, validation,
impact preview, publish (now or scheduled), history and rollback.

A draft (``drafts.create_draft``) copies the unit grids and responsibility grids of a district or
of some communities; edits (``edits``, through ``drafts.apply_edit``) change only the draft's rows,
each kept as a step with the rows as they were, so ``undo`` restores them exactly; ``validate``
checks the draft's tiling after every edit. The live boundaries (``grid_version``) change only when
a draft is published (``publish``), as a new version. Plain Python (no Streamlit): the planner page
and the command line call the same functions.
"""
