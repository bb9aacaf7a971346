from django.db import models
from django.utils.translation import gettext_lazy as _


class NodeFigure(models.Model):
    """A current figure of a grid node's whole subtree (persons under home quarantine, open
    alerts…), kept by the rollup sweep so the dashboard reads a few rows, not a million."""

    node = models.ForeignKey("grids.GridNode", on_delete=models.CASCADE, related_name="+")
    figure = models.CharField(_("figure"), max_length=48)
    value = models.IntegerField(_("value"))
    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("node figure")
        constraints = [models.UniqueConstraint(fields=["node", "figure"], name="node_figure_unique")]

    def __str__(self) -> str:
        return f"{self.figure}={self.value}"


class NodeDay(models.Model):
    """A figure of a grid node's subtree on one day (cases confirmed, orders started…): the
    series behind the dashboard's charts."""

    node = models.ForeignKey("grids.GridNode", on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    figure = models.CharField(_("figure"), max_length=48)
    value = models.IntegerField(_("value"))

    class Meta:
        verbose_name = _("node day")
        constraints = [models.UniqueConstraint(fields=["node", "figure", "day"], name="node_day_unique")]
        indexes = [models.Index(fields=["node", "day"], name="node_day_node_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.figure}={self.value}"


class Threshold(models.Model):
    """A figure's alarm level: the children table shows a node red at or above it (set by those
    who set the rules)."""

    figure = models.CharField(_("figure"), max_length=48, unique=True)
    value = models.PositiveIntegerField(_("red from"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("dashboard threshold")

    def __str__(self) -> str:
        return f"{self.figure} ≥ {self.value}"
