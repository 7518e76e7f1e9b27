"""Nothing in infra/ creates, reads or hands out a key: every client authenticates with Entra ID.

A key in an app setting or a deployment output ends up in portals, logs and `azd env` files; with
local auth disabled on every service there is no key to leak and nothing to rotate.
"""

from __future__ import annotations

from typing import Any

from pycep import BicepParser

from tests.infra.bicep_model import (
    Template,
    app_settings,
    bicep_files,
    dumps,
    main_template,
    parse,
)

# Functions and properties that read a secret out of a resource (compared case-insensitively).
SECRET_READERS = (
    "listkeys",
    "listconnectionstrings",
    "listaccountsas",
    "listservicesas",
    "listcredentials",
    "listsecrets",
    "primarymasterkey",
    "secondarymasterkey",
    "primarykey",
    "secondarykey",
    "accountkey=",
    "sharedaccesssignature",
)
SECRET_WORDS_IN_OUTPUTS = ("key", "connectionstring", "connection_string", "secret", "password", "sas")


def secret_readers_in(doc: dict[str, Any]) -> list[str]:
    text = dumps(doc).lower()
    return [reader for reader in SECRET_READERS if reader in text]


def test_the_secret_scan_recognises_a_key_read() -> None:
    leaky = BicepParser().parse(
        text="""
resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: 'x'
}
output key string = account.listKeys().primaryMasterKey
"""
    )
    assert secret_readers_in(dict(leaky)) == ["listkeys", "primarymasterkey"]


def test_no_template_reads_a_key() -> None:
    for path in bicep_files():
        assert secret_readers_in(parse(path)) == [], path.name


def test_no_output_exposes_a_key_or_connection_string() -> None:
    for path in bicep_files():
        for name, output in parse(path).get("outputs", {}).items():
            text = (name + dumps(output["value"])).lower()
            assert not [word for word in SECRET_WORDS_IN_OUTPUTS if word in text], f"{path.name}: {name}"


def test_the_only_connection_string_setting_is_application_insights_and_it_holds_no_secret() -> None:
    api = main_template().module("api")
    names = set(app_settings(api))
    # A bare COSMOS_CONNECTION or AzureWebJobsStorage would be a connection string with a key.
    assert not {"COSMOS_CONNECTION", "AzureWebJobsStorage"} & names
    with_connection_strings = {name for name in names if "CONNECTION_STRING" in name.upper()}
    assert with_connection_strings == {"APPLICATIONINSIGHTS_CONNECTION_STRING"}
    # Its instrumentation key is only an address because ingestion with it alone is refused:
    monitoring = main_template().module("monitoring")
    component = monitoring.resource("Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    workspace = monitoring.resource("Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["features"]["disableLocalAuth"] is True


def test_cosmos_accepts_only_entra_id_over_tls_1_2() -> None:
    account = main_template().module("cosmos").resource("Microsoft.DocumentDB/databaseAccounts")
    assert account["properties"]["disableLocalAuth"] is True
    assert account["properties"]["disableKeyBasedMetadataWriteAccess"] is True
    assert account["properties"]["minimalTlsVersion"] == "Tls12"


def test_storage_refuses_shared_keys_and_anonymous_reads() -> None:
    storage = main_template().module("storage").resource("Microsoft.Storage/storageAccounts")
    properties = storage["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_function_app_is_flex_consumption_https_only_tls_1_2_without_passwords() -> None:
    api = main_template().module("api")
    plan = api.resource("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = api.resource("Microsoft.Web/sites")["properties"]
    assert site["httpsOnly"] is True
    assert site["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["siteConfig"]["scmMinTlsVersion"] == "1.2"
    # FTP is off by policy, not by siteConfig.ftpsState, which Flex refuses (test_flex_site.py).
    policies = api.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies").values()
    assert sorted(api.resolve(policy["name"]) for policy in policies) == ["ftp", "scm"]
    assert all(policy["properties"]["allow"] is False for policy in policies)


def role_ids(template: Template, expression: Any) -> list[str]:
    resolved = template.resolve(expression)
    return resolved if isinstance(resolved, list) else [resolved]


def test_the_app_identity_gets_the_data_roles_it_needs_and_no_more() -> None:
    main = main_template()
    storage = main.module("storage")
    (storage_roles,) = storage.resources("Microsoft.Authorization/roleAssignments").values()
    loop = storage.doc["resources"]["appDataRoles"]["config"]["loop_type"]["detail"]
    assert sorted(role_ids(storage, loop["array_name"])) == sorted(
        [
            "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",  # Storage Blob Data Owner
            "974c5e8b-45b9-4653-ba55-5f855dd0fb88",  # Storage Queue Data Contributor
            "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",  # Storage Table Data Contributor
        ]
    )
    assert storage_roles["properties"]["principalId"] == "appPrincipalId"
    assert storage_roles["scope"] == "storage"

    monitoring = main.module("monitoring")
    publisher = monitoring.resource("Microsoft.Authorization/roleAssignments")
    role_definition = publisher["properties"]["roleDefinitionId"]["function"]["parameters"]
    assert monitoring.resolve(role_definition["resource_name_1"]) == "3913510d-42f4-4e42-8a64-420c390055eb"
    assert publisher["properties"]["principalId"] == "appPrincipalId"
    assert publisher["scope"] == "appInsights"

    cosmos = main.module("cosmos")
    assignments = cosmos.resources("Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    data_contributor = "/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
    for assignment in assignments.values():
        assert cosmos.resolve(assignment["properties"]["roleDefinitionId"]).endswith(data_contributor)
    principals = sorted(assignment["properties"]["principalId"] for assignment in assignments.values())
    assert principals == ["appPrincipalId", "userPrincipalId"]
    user_condition = cosmos.doc["resources"]["userDataContributor"]["config"]["condition"]
    assert "userPrincipalId" in dumps(user_condition), "the user's role must be optional"
