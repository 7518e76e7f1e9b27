// CarTracker on Azure: one Flex Consumption Function App over serverless Cosmos DB, keyless.
// `azd up` deploys this file at subscription scope. The infra workflow compiles it to
// azuredeploy.json for the portal ("Deploy to Azure") and `az deployment sub create`, so every
// parameter has a default the portal can show (docs/deploy.md).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Names the resource group (rg-<name>) and seeds the unique resource names. azd passes its environment name.')
param environmentName string = 'cartracker'

// The regions that offer Flex Consumption. Refresh the list with
//   az functionapp list-flexconsumption-locations --query "sort_by(@, &name)[].name" -o tsv
// and keep it sorted, without early-access (*euap) regions (tests/infra/test_flex_site.py checks).
@minLength(1)
@description('Region for every resource; it must offer Flex Consumption. Defaults to the region of the deployment.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string = deployment().location

@description('Python version of the Function App: the newest this code is tested on (NEWEST_PYTHON in the Makefile).')
@allowed([
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Object id of the user running the deployment (azd fills it in). Empty grants that user nothing.')
param principalId string = ''

@description('Grant the deploying user Cosmos data access, to run the app locally against the cloud account.')
param grantUserCosmosAccess bool = true

@description('serverless bills per request and costs nothing at idle; autoscale provisions shared throughput.')
@allowed([
  'serverless'
  'autoscale'
])
param cosmosCapacityMode string = 'serverless'

@description('Autoscale ceiling in RU/s shared by the three containers (autoscale mode only).')
@minValue(1000)
@maxValue(1000000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Car-list shards. Fixed per deployment: changing it later needs a projection rebuild.')
@minValue(1)
@maxValue(1000)
param listShards int = 16

@description('Upper bound on Function App instances; Flex Consumption accepts 40 to 1000.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

// The names the code expects. cartracker/settings.py is their source on the code side and
// tests/infra checks that the two agree; the app never creates a database or a container.
var cosmosDatabaseName = 'cartracker'
var eventsContainerName = 'events'
var viewsContainerName = 'views'
var leasesContainerName = 'leases'

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    appPrincipalId: identity.outputs.principalId
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    accountName: 'cosmos-${resourceToken}'
    location: location
    tags: tags
    serverless: cosmosCapacityMode == 'serverless'
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    databaseName: cosmosDatabaseName
    eventsContainerName: eventsContainerName
    viewsContainerName: viewsContainerName
    leasesContainerName: leasesContainerName
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: grantUserCosmosAccess ? principalId : ''
  }
}

module api 'app/function.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: 'func-api-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosEndpoint: cosmos.outputs.endpoint
    databaseName: cosmosDatabaseName
    eventsContainerName: eventsContainerName
    viewsContainerName: viewsContainerName
    leasesContainerName: leasesContainerName
    listShards: listShards
    maximumInstanceCount: maximumInstanceCount
    pythonVersion: pythonVersion
  }
}

// azd stores these in the environment (`azd env get-values`). Names and endpoints only: no key
// or connection string exists to output, because every client authenticates with Entra ID.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_COSMOS_ACCOUNT_NAME string = cosmos.outputs.accountName
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmosDatabaseName
output COSMOS_EVENTS_CONTAINER string = eventsContainerName
output COSMOS_VIEWS_CONTAINER string = viewsContainerName
output COSMOS_LEASES_CONTAINER string = leasesContainerName
output CARTRACKER_LIST_SHARDS int = listShards
