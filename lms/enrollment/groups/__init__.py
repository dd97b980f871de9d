"""Groups and their members: models, services (create, rename, delete, add and remove members,
which cascade to the groups' sessions through lms.programs.cascade, R2 and R5), the groups
pages and `lms groups`."""
