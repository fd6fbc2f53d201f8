"""Warnings about a valid scenario: settings that run but are rarely what was meant.

`lambdasim validate` prints them as `lambdasim run` does, so a user learns before a
long run that, say, a scheduled change falls after the horizon. Each message names
the key, what it does to the run and, where AWS advises against it, why.
"""

from __future__ import annotations

from lambdasim.scenario import schema

__all__ = ["late_bursts", "scenario_warnings"]


def scenario_warnings(scenario: schema.Scenario) -> list[str]:
    """Return one message per valid but suspicious setting of `scenario`."""
    horizon_s = scenario.horizon
    targets = _targets(scenario)
    messages = []
    for name, spec in scenario.functions.items():
        messages += _late_schedule(name, spec, horizon_s)
        messages += _sqs_advice(name, spec, scenario, targets)
        messages += _unused_qualifiers(name, spec, targets)
        messages += _snapstart_on_latest(name, spec, scenario)
        messages += _reservation_all_provisioned(name, spec, targets)
        usage = spec.database
        if usage is not None and usage.pinned_fraction > 0 and scenario.proxy is None:
            messages.append(
                f"functions.{name}.database.pinned_fraction "
                f"({usage.pinned_fraction:g}) has no effect without a proxy: "
                "pinning is RDS Proxy's"
            )
    for index, event in enumerate(scenario.events):
        if event.at >= horizon_s:
            messages.append(
                f"events[{index}]: the {event.type} at {event.at:g} s is at or after "
                f"the horizon ({horizon_s:g} s): it never happens"
            )
    late = late_bursts(scenario)
    for index, source in enumerate(scenario.workload):
        messages += _source_advice(index, source, horizon_s, index in late)
        defaults = getattr(source, "function_defaults", None)
        if defaults is not None and defaults.snapstart is not None:
            messages.append(
                f"workload[{index}].function_defaults.snapstart has no effect: trace "
                "functions are invoked as $LATEST, which SnapStart never restores"
            )
    return messages


def late_bursts(scenario: schema.Scenario) -> set[int]:
    """Positions of the burst sources that start at or after the horizon."""
    return {
        index
        for index, source in enumerate(scenario.workload)
        if isinstance(source, schema.BurstSpec) and source.at >= scenario.horizon
    }


def _late_schedule(name: str, spec: schema.FunctionSpec, horizon_s: float) -> list[str]:
    messages = []
    for qualifier, pc in spec.provisioned_concurrency.items():
        late = [a.at for a in pc.schedule or [] if a.at >= horizon_s]
        if late:
            messages.append(
                f"functions.{name}.provisioned_concurrency.{qualifier}: {len(late)} "
                f"scheduled change(s) at or after the horizon ({horizon_s:g} s) never "
                "take effect"
            )
    return messages


def _targets(scenario: schema.Scenario) -> set[str] | None:
    """The functions the workload names (`name` or `name:qualifier`).

    None when a trace names its functions row by row (any may be invoked).
    """
    targets = {getattr(source, "function", None) for source in scenario.workload}
    if None in targets:
        return None
    return {target for target in targets if target is not None}


def _invokes_latest(name: str, targets: set[str] | None) -> bool:
    return targets is None or bool(targets & {name, f"{name}:$LATEST"})


def _sqs_advice(
    name: str,
    spec: schema.FunctionSpec,
    scenario: schema.Scenario,
    targets: set[str] | None,
) -> list[str]:
    if spec.sqs is None:
        return []
    messages = []
    reserved = spec.reserved_concurrency
    maximum = spec.sqs.maximum_concurrency
    if maximum is not None and reserved is not None and maximum > reserved:
        # AWS: do not set maximum concurrency above the reserved concurrency; the
        # extra batches are throttled and count as receives.
        messages.append(
            f"functions.{name}.sqs.maximum_concurrency ({maximum}) is above its "
            f"reserved_concurrency ({reserved}): batches beyond {reserved} are "
            "throttled, and throttles count as receives"
        )
    senders = [
        source
        for source in scenario.workload
        if getattr(source, "invocation_type", None) is schema.InvocationTypeName.SQS
        and (getattr(source, "function", None) or "").partition(":")[0] == name
    ]
    if not senders and targets is not None:
        messages.append(
            f"functions.{name}.sqs: no workload source sends to this queue "
            "(invocation_type: sqs), so its mapping never invokes the function"
        )
    return messages


def _unused_qualifiers(
    name: str, spec: schema.FunctionSpec, targets: set[str] | None
) -> list[str]:
    """PC on a qualifier nothing invokes still takes its share of concurrency."""
    if targets is None:
        return []
    return [
        f"functions.{name}.provisioned_concurrency.{qualifier}: no workload source "
        f"invokes '{name}:{qualifier}'; its {pc.peak} provisioned instances are "
        "billed and taken out of the concurrency the other qualifiers can use"
        for qualifier, pc in spec.provisioned_concurrency.items()
        if f"{name}:{qualifier}" not in targets
    ]


def _snapstart_on_latest(
    name: str, spec: schema.FunctionSpec, scenario: schema.Scenario
) -> list[str]:
    """SnapStart works on published versions and aliases only (AWS Lambda docs)."""
    if spec.snapstart is None:
        return []
    return [
        f"functions.{name}.snapstart: workload[{index}] invokes '{name}' ($LATEST), "
        "which Lambda never restores from a snapshot: its cold starts run INIT; "
        f"invoke a version or alias instead ('{name}:live', with live in "
        "qualifiers)"
        for index, source in enumerate(scenario.workload)
        if getattr(source, "function", None) in (name, f"{name}:$LATEST")
    ]


def _reservation_all_provisioned(
    name: str, spec: schema.FunctionSpec, targets: set[str] | None
) -> list[str]:
    """AWS: when PC equals the reservation, $LATEST is throttled."""
    reserved = spec.reserved_concurrency
    if reserved is None or not spec.provisioned_concurrency:
        return []
    provisioned = sum(pc.peak for pc in spec.provisioned_concurrency.values())
    if provisioned < reserved or not _invokes_latest(name, targets):
        return []
    return [
        f"functions.{name}: provisioned concurrency ({provisioned}) takes all of its "
        f"reserved_concurrency ({reserved}), so invocations of '{name}' ($LATEST) "
        "are throttled whenever it is allocated"
    ]


def _source_advice(
    index: int, source: object, horizon_s: float, is_late_burst: bool
) -> list[str]:
    messages = []
    if is_late_burst and isinstance(source, schema.BurstSpec):
        messages.append(
            f"workload[{index}] (burst) at {source.at:g} s is at or after the horizon "
            f"({horizon_s:g} s): it sends nothing"
        )
    retry = getattr(source, "retry", None)
    if retry is not None and retry.base_delay > retry.max_delay:
        messages.append(
            f"workload[{index}].retry.base_delay ({retry.base_delay:g} s) is above "
            f"max_delay ({retry.max_delay:g} s): every wait is capped at max_delay"
        )
    return messages
