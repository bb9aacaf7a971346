from django.db import models
from django.utils.translation import gettext_lazy as _


class GridLevel(models.TextChoices):
    """The four vertical levels 街道—社区—楼院—楼, plus the horizontal thematic grids."""

    SUBDISTRICT = "subdistrict", _("Subdistrict")
    COMMUNITY = "community", _("Community")
    GRID = "grid", _("Compound grid")
    BUILDING = "building", _("Building")
    THEMATIC = "thematic", _("Thematic grid")


# Which level may sit under which (docs/method.md "0": 街道 → 社区 → 楼院网格 → 楼; thematic grids hang
# off a subdistrict or a community).
CHILD_LEVELS = {
    None: {GridLevel.SUBDISTRICT},
    GridLevel.SUBDISTRICT: {GridLevel.COMMUNITY, GridLevel.THEMATIC},
    GridLevel.COMMUNITY: {GridLevel.GRID, GridLevel.THEMATIC},
    GridLevel.GRID: {GridLevel.BUILDING},
    GridLevel.BUILDING: set(),
    GridLevel.THEMATIC: set(),
}
# Levels where a household, person or place may be placed ("leaf grids").
LEAF_LEVELS = {GridLevel.GRID, GridLevel.BUILDING}
# The vertical tree, without the thematic grids beside it (the dashboard's and reports' children).
VERTICAL_LEVELS = {GridLevel.SUBDISTRICT, GridLevel.COMMUNITY, GridLevel.GRID, GridLevel.BUILDING}


class ThematicCategory(models.TextChoices):
    """五类横向专属网格."""

    MEDICAL = "medical", _("Medical")
    EDUCATION = "education", _("Education")
    ENTERPRISE = "enterprise", _("Enterprise")
    LIVELIHOOD = "livelihood", _("Livelihood")
    INSTITUTION = "institution", _("Resident institutions")


class PlaceKind(models.TextChoices):
    COMPOUND = "compound", _("Residential compound")
    SCHOOL = "school", _("School")
    CLINIC = "clinic", _("Clinic or hospital")
    ENTERPRISE = "enterprise", _("Enterprise")
    SHOP = "shop", _("Shop or market")
    INSTITUTION = "institution", _("Institution")
    PUBLIC = "public", _("Park or public place")
    OTHER = "other", _("Other")
