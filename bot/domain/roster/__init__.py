"""Roster import: the org tree, households and people from a community's sheets.

A sheet is a CSV file (UTF-8 with or without BOM, GB18030, or Excel's UTF-16
"Unicode text") or a worksheet of an .xlsx workbook. Its kind follows from its
header row: a household sheet (乡镇, 社区, 小区, 楼栋, 单元, 房号, 户主, 联户党员,
党员电话, 楼栋长, 楼栋长电话, 支部书记, 支部书记电话) or a staff sheet (乡镇, 社区,
姓名, 电话, 角色). Column names and every message staff read live in
bot/data/roster_columns.toml.

People are identified by their mobile number; a re-import updates rows in
place and never duplicates anyone. Nothing is ever deleted by an import. A bad
row is reported with its spreadsheet row number and the good rows still load,
unless the import is strict: then nothing loads if any row is bad.

Files are read and parsed in a worker thread; only the database writes run on
the event loop, in one transaction.

Modules: ``columns`` (names and messages), ``values`` (normalising cells),
``sheets`` (reading and parsing files), ``report``, ``importer`` (the
database writes) and ``addresses`` (lookups used on every request, which
import nothing of the importer).
"""
