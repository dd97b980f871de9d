"""Account rosters in and out (DESIGN §4): `parser` reads pasted text, CSV and XLSX into rows
and line-numbered errors (no database), `importer` plans and writes them, `jobs` runs imports in
the background with progress, `downloads` hands out the XLSX template, the groups' ids and the
rejected rows, `export` writes users as CSV, XLSX or JSON; the Set multiple accounts pages and
`lms import`."""
