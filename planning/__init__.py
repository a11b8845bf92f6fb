"""The planner's workspace (规划编辑): drafts of the grid boundaries, edits, undo and validation.

A draft (``drafts.create_draft``) copies the unit grids and responsibility grids of a district or
of some communities; edits (``edits``, through ``drafts.apply_edit``) change only the draft's rows,
each kept as a step with the rows as they were, so ``undo`` restores them exactly; ``validate``
checks the draft's tiling after every edit. The live boundaries (``grid_version``) change only when
a draft is published (``publish``), as a new version. Plain Python: no Streamlit here.
"""
