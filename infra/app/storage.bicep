// The Functions host's storage (AzureWebJobsStorage: keys, timers, the Durable Functions task hub)
// and the blob container Flex Consumption deploys packages from. Shared-key access is off, so
// the app reaches it only through its managed identity and the data roles granted here.

param name string
param location string
param tags object

@description('Principal of the app identity, granted the data roles the host and Durable Functions need.')
param appPrincipalId string

var deploymentContainerName = 'app-package'

// Built-in data roles for identity-based AzureWebJobsStorage with Durable Functions:
// the host keeps blob leases and keys (Blob Data Owner), the task hub uses queues and tables.
var dataRoleIds = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: public network kept for the sample (no VNet); private endpoints are the documented next step
  // checkov:skip=CKV_AZURE_59: public network kept for the sample (no VNet); private endpoints are the documented next step
  // checkov:skip=CKV_AZURE_206: LRS suffices: host state and packages can be recreated, the business data lives in Cosmos DB
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appDataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in dataRoleIds: {
  name: guid(storage.id, appPrincipalId, roleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

output name string = storage.name
output deploymentContainerName string = deploymentContainer.name
