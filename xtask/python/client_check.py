"""Calls every operation of a client that openapi-python-client generated, with its default
settings, from the served document, and checks that each answer parses into the model the
document names: the 200 bodies, and the problem bodies of a 404 and of two 400s (one for a
time zone the service does not know). Prints one line per operation.

Run by `cargo xtask client-check` as: python client_check.py <client dir> <base url>.
"""
import enum
import importlib
import inspect
import pkgutil
import sys
import uuid
from datetime import datetime, timezone

sys.path.insert(0, sys.argv[1])
BASE_URL = sys.argv[2]

import insights_service_api_client as package  # noqa: E402
from insights_service_api_client import Client  # noqa: E402
from insights_service_api_client import models  # noqa: E402

# Real seed ids and values that reach each operation's 200.
VALUES = {
    "circuit_id": uuid.UUID("d36e0c8c-d7d4-5740-88c4-dea626057ff1"),
    "organization_id": uuid.UUID("955c3c4d-3a03-4d79-9655-3871f5ad999d"),
    "sensor_id": uuid.UUID("785097c8-2b34-410a-a8ea-bcaf10791c45"),
    "location_id": uuid.UUID("ea125f67-6b94-4992-8eb9-d832ae026106"),
    "brand_id": uuid.UUID("11111111-1111-1111-1111-111111111111"),
    "start": datetime(2024, 4, 1, tzinfo=timezone.utc),
    "end": datetime(2024, 4, 2, tzinfo=timezone.utc),
    # Enumerations are Enum classes; a time zone is a string.
    "bucket": models.BucketWidth("1h"),
    "tz": "America/New_York",
    "demand_interval": models.DemandInterval("15m"),
    "top": 3,
}
# Headers the document lists that a call need not send.
OPTIONAL = {"x_request_id", "if_none_match"}

client = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
failures = []
called = 0


def call(module, overrides=None):
    function = module.sync_detailed
    kwargs = {"client": client}
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "client" or name in OPTIONAL:
            continue
        if overrides and name in overrides:
            kwargs[name] = overrides[name]
        elif name in VALUES:
            kwargs[name] = VALUES[name]
        elif parameter.default is inspect.Parameter.empty:
            raise KeyError(f"{module.__name__} needs a value for {name}")
    return function(**kwargs)


def model_of(response):
    return type(response.parsed).__name__ if response.parsed is not None else None


api = importlib.import_module(f"{package.__name__}.api")
for tag in pkgutil.iter_modules(api.__path__):
    tag_package = importlib.import_module(f"{api.__name__}.{tag.name}")
    for operation in pkgutil.iter_modules(tag_package.__path__):
        module = importlib.import_module(f"{tag_package.__name__}.{operation.name}")
        called += 1
        response = call(module)
        status = int(response.status_code)
        parsed = model_of(response)
        print(f"{operation.name}: {status} {parsed}")
        if status != 200 or parsed is None:
            failures.append(f"{operation.name}: {status} {response.content[:200]!r}")
        # A missing id is a problem body, parsed as the Problem model.
        ids = [
            name
            for name in inspect.signature(module.sync_detailed).parameters
            if name.endswith("_id") and name not in OPTIONAL
        ]
        if ids:
            missing = call(module, {ids[0]: uuid.UUID("00000000-0000-4000-8000-000000000000")})
            if int(missing.status_code) != 404 or model_of(missing) != "Problem":
                failures.append(f"{operation.name} with a missing id: {int(missing.status_code)} {model_of(missing)}")

# A 400 names the parameter at fault in invalid_params, parsed as InvalidParam models.
from insights_service_api_client.api.insights import get_circuit_usage  # noqa: E402

bad = call(get_circuit_usage, {"start": VALUES["end"], "end": VALUES["start"]})
if int(bad.status_code) != 400 or model_of(bad) != "Problem":
    failures.append(f"an inverted window: {int(bad.status_code)} {model_of(bad)}")
elif not bad.parsed.invalid_params or type(bad.parsed.invalid_params[0]).__name__ != "InvalidParam":
    failures.append(f"an inverted window's invalid_params: {bad.parsed.invalid_params!r}")

# A zone the service does not know is a string all the same; the service refuses it, naming tz.
unknown = call(get_circuit_usage, {"tz": "Mars/Olympus_Mons"})
if int(unknown.status_code) != 400 or model_of(unknown) != "Problem":
    failures.append(f"an unknown zone: {int(unknown.status_code)} {model_of(unknown)}")
elif [param.name for param in unknown.parsed.invalid_params] != ["tz"]:
    failures.append(f"an unknown zone's invalid_params: {unknown.parsed.invalid_params!r}")

members = [(name, value) for name, value in vars(models).items() if inspect.isclass(value)]
classes = sorted(name for name, value in members if not issubclass(value, enum.Enum))
enumerations = sorted(name for name, value in members if issubclass(value, enum.Enum))
print(f"{called} operations called; {len(classes)} model classes: {', '.join(classes)}")
# The query enumerations are Enum classes, one module each; every other module is a model
# class. Time zones are no enumeration: their names would collide as identifiers.
SHARED = ["AnswerFormat", "BucketWidth", "ComparedPeriod", "DemandInterval"]
modules = [module.name for module in pkgutil.iter_modules(models.__path__)]
print(f"enumerations: {', '.join(enumerations)}; {len(modules)} model modules")
if enumerations != SHARED:
    failures.append(f"enumerations {enumerations}, expected {SHARED}")
if len(modules) != len(classes) + len(enumerations):
    failures.append(f"model modules beyond one per shape: {sorted(modules)}")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
