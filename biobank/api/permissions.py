"""Who may write through the API: reading needs a sign-in, writing curator rights."""

from __future__ import annotations

from rest_framework.permissions import DjangoModelPermissions


class CuratorWrites(DjangoModelPermissions):
    """Let any signed-in user read; let only holders of the model's permission write.

    Creating needs `<app>.add_<model>`, changing `<app>.change_<model>`, deleting
    `<app>.delete_<model>` (superusers hold all). A signed-in user without them gets
    403, an anonymous request 401.
    """

    # TODO: project roles (viewer, curator, manager) will decide this per project;
    # until they exist, a model permission lets its holder write in every project.
