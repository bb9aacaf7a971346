from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from treebeard.mp_tree import MP_Node, MP_NodeManager, MP_NodeQuerySet

from epigrid.core.scoping import VIEW, GridScopedQuerySet

from .choices import GridLevel, PlaceKind, ThematicCategory

STEP = 4  # characters per level of the materialised path (treebeard's steplen)
# The depth of each vertical level: 街道 1, 社区 2, 楼院网格 (the compound) 3, 楼 4.
LEVEL_DEPTH = {GridLevel.SUBDISTRICT: 1, GridLevel.COMMUNITY: 2, GridLevel.GRID: 3, GridLevel.BUILDING: 4}


def ancestor_path(path: str, level: str) -> str:
    """The path of the ancestor at `level` of the node at `path` ("" when the node lies above it)."""
    end = LEVEL_DEPTH[level] * STEP
    return path[:end] if len(path) >= end else ""


def compound_path(path: str) -> str:
    """The compound (楼院网格) a node belongs to: the unit of closure, passes and activation."""
    return ancestor_path(path, GridLevel.GRID)


def community_path(path: str) -> str:
    return ancestor_path(path, GridLevel.COMMUNITY)


def within(path: str, root: str) -> bool:
    """True when the node at `path` lies in the subtree of `root` (or is it)."""
    return path.startswith(root)


def common_root(paths) -> str:
    """The deepest node path every one of `paths` lies under ("" when they share none)."""
    paths = list(paths)
    if not paths:
        return ""
    first, last = min(paths), max(paths)  # the common prefix of all is that of these two
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
    prefix = first[:size]
    return prefix[: len(prefix) - len(prefix) % STEP]


def lineage_paths(path: str) -> list[str]:
    """The node's own path and those of all its ancestors, root first."""
    return [path[:end] for end in range(STEP, len(path) + 1, STEP)]


class GridNodeQuerySet(MP_NodeQuerySet, GridScopedQuerySet):
    grid_path_lookups = ("path",)


class GridNodeManager(MP_NodeManager):
    def get_queryset(self):
        return GridNodeQuerySet(self.model).order_by("path")

    def restrict(self, principal, capability: str = VIEW):
        return self.get_queryset().restrict(principal, capability)

    def get_for(self, principal, capability: str = VIEW, **kwargs):
        return self.get_queryset().get_for(principal, capability, **kwargs)

    def in_subtree(self, path: str):
        return self.get_queryset().in_subtree(path)


class GridNode(MP_Node):
    """网格: a node of the grid tree (街道, 社区, 楼院网格, 楼, or a thematic 专属网格)."""

    # Codes are stable and human-readable ("JZXC-HYL-09-B01") and survive moves; the path is
    # treebeard's materialised path used for subtree ranges.
    code = models.CharField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=16, choices=GridLevel.choices)
    category = models.CharField(_("thematic category"), max_length=16, choices=ThematicCategory.choices, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    # 网格地图: the outline as a GeoJSON Polygon/MultiPolygon, coordinates as given (settings.MAP_COORDINATES).
    boundary = models.JSONField(_("boundary"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    steplen = STEP
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    node_order_by = ["code"]
    objects = GridNodeManager()

    class Meta:
        verbose_name = _("grid node")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level="thematic") | models.Q(category=""), name="grid_category_only_thematic"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The name with the address residents know it by: "第9网格（利农庄路23号院）"."""
        return f"{self.name}（{self.address}）" if self.address else self.name

    def get_absolute_url(self) -> str:
        return reverse("oversight:node", args=[self.code])

    def ancestor_at(self, level: str) -> "GridNode | None":
        """The ancestor (or the node itself) at `level`; None when the node lies above it."""
        path = ancestor_path(self.path, level)
        if not path:
            return None
        return self if path == self.path else GridNode.objects.get(path=path)

    def compound(self) -> "GridNode | None":
        return self.ancestor_at(GridLevel.GRID)

    def community(self) -> "GridNode | None":
        return self.ancestor_at(GridLevel.COMMUNITY)

    @property
    def parent_path(self) -> str:
        return self.path[:-STEP]

    @property
    def compound_path(self) -> str:
        return compound_path(self.path)

    @property
    def community_path(self) -> str:
        return community_path(self.path)

    @property
    def lineage_paths(self) -> list[str]:
        return lineage_paths(self.path)

    @property
    def is_thematic(self) -> bool:
        return self.level == GridLevel.THEMATIC


class PlaceQuerySet(GridScopedQuerySet):
    # A place is seen from its geographic grid and from its thematic grid.
    grid_path_lookups = ("grid__path", "thematic_grid__path")


class Place(models.Model):
    """地上物/场所: a place (school, clinic, enterprise, shop, compound) in a grid."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=PlaceKind.choices)
    address = models.CharField(_("address"), max_length=200, blank=True)
    grid = models.ForeignKey(GridNode, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="places")
    thematic_grid = models.ForeignKey(
        GridNode,
        verbose_name=_("thematic grid"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="thematic_places",
    )
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=50, blank=True)
    contact_phone_sealed = models.BinaryField(null=True, blank=True, editable=False)
    contact_phone_masked = models.CharField(_("contact phone"), max_length=20, blank=True)
    import_batch = models.ForeignKey(
        "core.ImportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="places"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    # Its point on the map (longitude, latitude as given), when known.
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=8, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlaceQuerySet.as_manager()

    class Meta:
        verbose_name = _("place")
        indexes = [models.Index(fields=["grid", "name"], name="place_grid_name_idx")]

    def __str__(self) -> str:
        return self.name
