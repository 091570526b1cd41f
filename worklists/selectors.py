"""Read paths for worklists.

Who may do what on a worklist is answered in `worklists.access`; these names stay importable
from here for existing callers and are the same functions.
"""

from .access import has_worklist_perm, worklist_permissions, worklists_for_user

user_has_worklist_perm = has_worklist_perm

__all__ = ["user_has_worklist_perm", "worklist_permissions", "worklists_for_user"]
