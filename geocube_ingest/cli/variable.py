"""Preparing the index for a payload's `layers`: `geocube-ingest variable create/list/instantiate/show`.

Two commands make a layer usable:
    geocube-ingest variable create NDVI --dformat float32,nan,-1,1
    geocube-ingest variable instantiate NDVI S2 -m source=sentinel2
then the payload maps a graph output to it: "layers": {"ndvi": {"variable": "NDVI", "instance": "S2"}}.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from geocube_ingest.cli.common import console, print_json
from geocube_ingest.errors import InvalidInput
from geocube_ingest.index.base import Index, Resampling, Variable
from geocube_ingest.index.factory import get_index

group = typer.Typer(help="Variables and instances of the index (what a payload's `layers` point to).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ExistOkOpt = Annotated[bool, typer.Option("--exist-ok", help="Succeed if it already exists.")]


def _index() -> Index:
    return get_index()


def _variable_json(variable: Variable) -> dict[str, object]:
    return {
        "id": variable.id,
        "name": variable.name,
        "dformat": str(variable.dformat),
        "bands": list(variable.bands),
        "unit": variable.unit,
        "description": variable.description,
        "palette": variable.palette,
        "resampling": variable.resampling.value,
        "instances": [{"id": i.id, "name": i.name, "metadata": i.metadata} for i in variable.instances],
    }


def _metadata(pairs: list[str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"invalid metadata {pair!r}: expected KEY=VALUE")
        metadata[key.strip()] = value
    return metadata


@group.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Variable name, e.g. NDVI or S2/reflectance/B04.")],
    dformat: Annotated[
        str, typer.Option("--dformat", "-f", help="Real-value format 'dtype,nodata,min,max', e.g. float32,nan,-1,1.")
    ],
    bands: Annotated[
        str, typer.Option("--bands", help="Comma-separated band names (one unnamed band by default).")
    ] = "",
    unit: Annotated[str, typer.Option("--unit", help="Unit of the values, e.g. dB.")] = "",
    description: Annotated[str, typer.Option("--description", "-d", help="What the variable is.")] = "",
    palette: Annotated[str, typer.Option("--palette", help="Palette name for rendering.")] = "",
    resampling: Annotated[str, typer.Option("--resampling", help="Resampling when reprojected.")] = "bilinear",
    exist_ok: ExistOkOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a variable."""
    variable = _index().create_variable(
        name,
        dformat,
        bands=[b.strip() for b in bands.split(",")] if bands else [""],
        unit=unit,
        description=description,
        palette=palette,
        resampling=Resampling.parse(resampling),
        exist_ok=exist_ok,
    )
    if as_json:
        print_json(_variable_json(variable))
        return
    console.print(f"variable [bold]{variable.name}[/] ({variable.id}) {variable.dformat}")


@group.command("instantiate")
def instantiate(
    variable: Annotated[str, typer.Argument(help="Variable name.")],
    instance: Annotated[str, typer.Argument(help="Instance name, e.g. S2 or RNKell.")],
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="KEY=VALUE metadata (repeat the option).")
    ] = None,
    exist_ok: ExistOkOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an instance of a variable; prints its id (usable as a layer's instance_id)."""
    made = _index().instantiate(variable, instance, _metadata(metadata or []) if metadata else None, exist_ok=exist_ok)
    if as_json:
        print_json({"id": made.id, "name": made.name, "variable": variable, "metadata": made.metadata})
        return
    console.print(f"instance [bold]{variable}:{made.name}[/] {made.id}")


@group.command("list")
def list_(
    pattern: Annotated[str, typer.Argument(help="Name pattern with * and ?.")] = "*",
    as_json: JsonOpt = False,
) -> None:
    """List variables and their instances."""
    variables = _index().list_variables(pattern)
    if as_json:
        print_json([_variable_json(v) for v in variables])
        return
    table = Table("variable", "dformat", "unit", "bands", "instance", "instance id", box=None)
    for v in variables:
        bands = ",".join(b for b in v.bands if b)
        rows = [(i.name, i.id) for i in v.instances] or [("[dim]none[/]", "")]
        for position, (instance, instance_id) in enumerate(rows):
            head = (v.name, str(v.dformat), v.unit, bands) if position == 0 else ("", "", "", "")
            table.add_row(*head, instance, instance_id)
    console.print(table if variables else "[dim]no variable[/]")


@group.command("show")
def show(name: Annotated[str, typer.Argument(help="Variable name.")]) -> None:
    """One variable as JSON, with its instances."""
    print_json(_variable_json(_index().variable(name)))


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="variable")
    app.add_typer(group, name="variables", hidden=True)
