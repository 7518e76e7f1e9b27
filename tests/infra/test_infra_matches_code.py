"""What infra/ provisions is exactly what the code reads.

The app never creates a database or a container (with managed identity it may not), and it reads
every name from settings whose defaults live in cartracker/settings.py. A rename on either side
that is not made on the other would deploy an app that cannot find its data; these tests catch it.
"""

from __future__ import annotations

import json
import re

from cartracker import settings
from tests.infra.bicep_model import (
    INFRA_DIR,
    UNKNOWN,
    Template,
    app_settings,
    main_template,
    parse,
)

CONTAINER = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"

# Settings the Functions host and its extensions read (platform names, not ours).
HOST_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
CODE_SETTINGS = {
    settings.SETTING_STORE,
    settings.SETTING_LIST_SHARDS,
    settings.SETTING_DATABASE,
    settings.SETTING_EVENTS_CONTAINER,
    settings.SETTING_VIEWS_CONTAINER,
    settings.SETTING_LEASES_CONTAINER,
    settings.SETTING_ACCOUNT_ENDPOINT,
    settings.SETTING_CREDENTIAL,
    settings.SETTING_CLIENT_ID,
}


def cosmos_module() -> Template:
    return main_template().module("cosmos")


def function_module() -> Template:
    return main_template().module("api")


def test_containers_and_partition_keys_are_the_codes() -> None:
    cosmos = cosmos_module()
    provisioned = {}
    for container in cosmos.resources(CONTAINER).values():
        name = cosmos.resolve(container["name"])
        resource = cosmos.resolve(container["properties"]["resource"])
        assert resource["id"] == name
        assert resource["partitionKey"]["kind"] == "Hash"
        provisioned[name] = resource["partitionKey"]["paths"]
    assert provisioned == {
        settings.EVENTS_CONTAINER: [settings.EVENTS_PARTITION_KEY],
        settings.VIEWS_CONTAINER: [settings.VIEWS_PARTITION_KEY],
        settings.LEASES_CONTAINER: [settings.LEASES_PARTITION_KEY],
    }


def test_the_events_container_lets_idempotency_records_expire_and_nothing_else() -> None:
    # Per-item TTL needs defaultTtl set on the container; -1 means "no default": events and
    # heads (which carry no ttl) live forever, each idempotency record dies after its own ttl.
    cosmos = cosmos_module()
    ttls = {
        cosmos.resolve(c["name"]): cosmos.resolve(c["properties"]["resource"]).get("defaultTtl")
        for c in cosmos.resources(CONTAINER).values()
    }
    assert ttls == {
        settings.EVENTS_CONTAINER: -1,
        settings.VIEWS_CONTAINER: None,
        settings.LEASES_CONTAINER: None,
    }


def test_database_is_the_codes() -> None:
    cosmos = cosmos_module()
    database = cosmos.resource("Microsoft.DocumentDB/databaseAccounts/sqlDatabases")
    assert cosmos.resolve(database["name"]) == settings.DATABASE_NAME
    assert cosmos.resolve(database["properties"]["resource"]["id"]) == settings.DATABASE_NAME


def test_app_settings_are_exactly_what_the_code_and_the_host_read() -> None:
    assert set(app_settings(function_module())) == CODE_SETTINGS | HOST_SETTINGS


def test_app_settings_carry_the_provisioned_names() -> None:
    api = function_module()
    values = {name: api.resolve(expr) for name, expr in app_settings(api).items()}
    assert values[settings.SETTING_STORE] == "cosmos"
    assert values[settings.SETTING_LIST_SHARDS] == str(settings.DEFAULT_LIST_SHARDS)
    assert values[settings.SETTING_DATABASE] == settings.DATABASE_NAME
    assert values[settings.SETTING_EVENTS_CONTAINER] == settings.EVENTS_CONTAINER
    assert values[settings.SETTING_VIEWS_CONTAINER] == settings.VIEWS_CONTAINER
    assert values[settings.SETTING_LEASES_CONTAINER] == settings.LEASES_CONTAINER
    assert values[settings.SETTING_CREDENTIAL] == "managedidentity"
    assert values["AzureWebJobsStorage__credential"] == "managedidentity"


def test_identity_based_connections_name_the_apps_identity() -> None:
    api = function_module()
    expressions = app_settings(api)
    client_id_param = "identityClientId"
    assert expressions[settings.SETTING_CLIENT_ID] == client_id_param
    assert expressions["AzureWebJobsStorage__clientId"] == client_id_param
    assert expressions["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        f"ClientId=${{{client_id_param}}};Authorization=AAD"
    )
    site = api.resource("Microsoft.Web/sites")
    identity_param = "identityId"
    assert site["identity"]["type"] == "UserAssigned"
    assert list(site["identity"]["userAssignedIdentities"]) == [f"'${{{identity_param}}}'"]
    authentication = site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert authentication["type"] == "UserAssignedIdentity"
    assert authentication["userAssignedIdentityResourceId"] == identity_param


def test_outputs_are_upper_case_and_name_the_codes_settings() -> None:
    main = main_template()
    outputs = main.doc["outputs"]
    for name in outputs:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"azd outputs are UPPER_CASE: {name}"
    values = {name: main.resolve(output["value"]) for name, output in outputs.items()}
    assert values[settings.SETTING_DATABASE] == settings.DATABASE_NAME
    assert values[settings.SETTING_EVENTS_CONTAINER] == settings.EVENTS_CONTAINER
    assert values[settings.SETTING_VIEWS_CONTAINER] == settings.VIEWS_CONTAINER
    assert values[settings.SETTING_LEASES_CONTAINER] == settings.LEASES_CONTAINER
    assert values[settings.SETTING_LIST_SHARDS] == settings.DEFAULT_LIST_SHARDS
    assert values["SERVICE_API_NAME"] is UNKNOWN  # the deployed app's name, known after provisioning


def test_azd_conventions_hold() -> None:
    main = main_template()
    params = main.doc["parameters"]
    assert {"environmentName", "location", "principalId"} <= set(params)
    assert main.doc["variables"]["tags"]["value"] == {"'azd-env-name'": "environmentName"}
    assert main.resource("Microsoft.Resources/resourceGroups")["tags"] == "tags"
    for name, module in main.doc["modules"].items():
        assert module["config"]["params"]["tags"] == "tags", f"module {name} drops the azd tags"
    site = function_module().resource("Microsoft.Web/sites")
    assert site["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "api"}
    azure_yaml = (INFRA_DIR.parent / "azure.yaml").read_text()
    service = re.search(r"^services:\n  api:\n((?:    .*\n)+)", azure_yaml, re.MULTILINE)
    assert service, "azure.yaml declares no service named api"
    assert "language: python" in service.group(1)
    assert "host: function" in service.group(1)


def test_parameters_file_binds_only_and_all_required_params() -> None:
    declared = parse(INFRA_DIR / "main.bicep")["parameters"]
    bound = json.loads((INFRA_DIR / "main.parameters.json").read_text())["parameters"]
    assert set(bound) <= set(declared), f"unknown params: {set(bound) - set(declared)}"
    required = {name for name, param in declared.items() if param["default"] is None}
    assert required <= set(bound), f"params azd must fill: {required - set(bound)}"


def test_cosmos_is_serverless_unless_autoscale_is_asked_for() -> None:
    main = main_template()
    mode = main.doc["parameters"]["cosmosCapacityMode"]
    assert mode["default"] == "serverless"
    assert {"type": "allowed", "argument": ["serverless", "autoscale"]} in mode["decorators"]
    cosmos = cosmos_module()
    assert cosmos.bindings["serverless"] is UNKNOWN  # computed from the mode at deploy time
    capabilities = cosmos.resource("Microsoft.DocumentDB/databaseAccounts")["properties"]["capabilities"]
    choice = capabilities["operator"]["operands"]
    assert choice["condition"] == "serverless"
    assert choice["true_value"] == [{"name": "EnableServerless"}]
    assert choice["false_value"] == []
    options = cosmos.resource("Microsoft.DocumentDB/databaseAccounts/sqlDatabases")["properties"]["options"]
    assert options["operator"]["operands"]["true_value"] == {}
    assert "autoscaleSettings" in options["operator"]["operands"]["false_value"]
