// The Function App on Flex Consumption (scales to zero, Linux, Python). It runs as the
// user-assigned identity and every connection is identity-based: the app settings below hold
// endpoints, names and the identity's client id, never a key or a connection string with one.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string
@description('Client id of that identity: identity-based connections name it explicitly.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

param cosmosEndpoint string
param databaseName string
param eventsContainerName string
param viewsContainerName string
param leasesContainerName string
param listShards int

@description('Python version of the Flex runtime (main.bicep sets it).')
param pythonVersion string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption keeps two always-ready instances billed; the sample scales to zero
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: a public API called by browsers and scripts; client certificates would shut them out
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero by design; always-ready instances cost money at idle
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the platform health check; GET /api/health serves probes
  // checkov:skip=CKV_AZURE_222: public network kept for the sample (no VNet); private endpoints are the documented next step
  // checkov:skip=CKV_AZURE_78: Flex Consumption refuses siteConfig.ftpsState; FTP is off through the ftp publishing-credentials policy below
  // checkov:skip=CKV_AZURE_18: Flex Consumption refuses siteConfig.http20Enabled (the portal hides the HTTP 2.0 setting for Flex apps)
  // checkov:skip=CKV_AZURE_67: same check for function apps: http20Enabled is not a Flex Consumption site property
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    // Flex Consumption refuses site configuration it does not support (ARM error 51021, "site
    // configuration properties ... for Flex Consumption sites is invalid"): no ftpsState,
    // http20Enabled or remoteDebuggingEnabled here (tests/infra/test_flex_site.py). FTP is off
    // through the publishing-credentials policies below; remote debugging is off by default.
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      appSettings: [
        // Functions host storage, Durable Functions task hub included (identity-based).
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // Telemetry: local auth is off on the component, so ingestion needs the Entra token below.
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // CarTracker (names in cartracker/settings.py). The change-feed trigger and the SDK
        // client both read the COSMOS_CONNECTION__* identity-based connection.
        { name: 'CARTRACKER_STORE', value: 'cosmos' }
        { name: 'CARTRACKER_LIST_SHARDS', value: string(listShards) }
        { name: 'COSMOS_CONNECTION__accountEndpoint', value: cosmosEndpoint }
        { name: 'COSMOS_CONNECTION__credential', value: 'managedidentity' }
        { name: 'COSMOS_CONNECTION__clientId', value: identityClientId }
        { name: 'COSMOS_DATABASE', value: databaseName }
        { name: 'COSMOS_EVENTS_CONTAINER', value: eventsContainerName }
        { name: 'COSMOS_VIEWS_CONTAINER', value: viewsContainerName }
        { name: 'COSMOS_LEASES_CONTAINER', value: leasesContainerName }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Publishing goes through Entra ID (azd and the Azure CLI use tokens): no FTP or SCM passwords.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
