// Cosmos DB for NoSQL: the account, the database and the three containers the app uses, and
// the data-plane role that lets the app identity (and optionally the deploying user) read and
// write items. Keys are disabled: Entra ID is the only way in, and the app cannot create
// containers, so every container it needs is declared here.

param accountName string
param location string
param tags object

@description('true: serverless, billed per request. false: provisioned autoscale throughput shared by the database.')
param serverless bool = true

@description('Autoscale ceiling in RU/s, used only when serverless is false.')
param autoscaleMaxThroughput int = 1000

param databaseName string
param eventsContainerName string
param viewsContainerName string
param leasesContainerName string

@description('Principal of the app identity.')
param appPrincipalId string

@description('Principal of a user who may run the app locally against this account; empty for none.')
param userPrincipalId string = ''

// Indexing: every indexed path costs RU on every write of every document, so each container
// excludes the root and indexes only the paths its queries filter or sort on (the partition-key
// path included, since the exclude-root strategy leaves it out). `id` and `_ts` are always indexed
// in consistent mode; `_etag` is listed as excluded the way Cosmos's own default policy lists it.
// tests/infra/test_indexing_policies.py derives the paths from the SQL the adapters send and
// fails when one is missing here, or when a path here is no longer queried. No query sorts on
// more than one field, so no composite index is needed.
var eventsIndexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    { path: '/aggregateId/?' }
    { path: '/docType/?' }
    { path: '/version/?' }
  ]
  excludedPaths: [
    { path: '/*' }
    { path: '/_etag/?' }
  ]
}
var viewsIndexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    { path: '/partitionKey/?' }
    { path: '/docType/?' }
    { path: '/listKey/?' }
    { path: '/dueKey/?' }
    { path: '/parkedAt/?' }
  ]
  excludedPaths: [
    { path: '/*' }
    { path: '/_etag/?' }
  ]
}
// The change-feed trigger's lease store only ever queries `STARTSWITH(c.id, prefix)` and reads and
// replaces leases by id; `id` is indexed whatever the policy says, so nothing else needs to be.
var leasesIndexingPolicy = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: []
  excludedPaths: [
    { path: '/*' }
    { path: '/_etag/?' }
  ]
}

// Cosmos DB Built-in Data Contributor (data plane: read and write items, run queries and the change feed).
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  // checkov:skip=CKV_AZURE_99: public network kept for the sample (no VNet); private endpoints are the documented next step
  // checkov:skip=CKV_AZURE_101: public network kept for the sample (no VNet); private endpoints are the documented next step
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [ { name: 'EnableServerless' } ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
    enableAutomaticFailover: false
    enableFreeTier: false
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    // Serverless accounts take no throughput; autoscale is shared by the containers below.
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

// One document per event, one head document per car and one idempotency record per keyed
// command, all in the car's partition. defaultTtl -1 turns per-item TTL on without a default:
// events and heads never expire; a record carries its own `ttl` (the idempotency retention).
resource eventsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: eventsContainerName
  properties: {
    resource: {
      id: eventsContainerName
      partitionKey: {
        paths: [
          '/aggregateId'
        ]
        kind: 'Hash'
        version: 2
      }
      defaultTtl: -1
      indexingPolicy: eventsIndexingPolicy
    }
  }
}

// Car-list rows and shard subtotals, one partition per shard.
resource viewsContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: viewsContainerName
  properties: {
    resource: {
      id: viewsContainerName
      partitionKey: {
        paths: [
          '/partitionKey'
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: viewsIndexingPolicy
    }
  }
}

// Change-feed leases; the trigger requires the partition key /id.
resource leasesContainer 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: leasesContainerName
  properties: {
    resource: {
      id: leasesContainerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: leasesIndexingPolicy
    }
  }
}

// Scoped to the account, which holds only this app's database: the simplest scope that also
// covers the account-metadata reads the SDK and the change-feed trigger make.
resource appDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, appPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: appPrincipalId
    scope: account.id
  }
}

resource userDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = if (!empty(userPrincipalId)) {
  parent: account
  name: guid(account.id, userPrincipalId, dataContributorRoleId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
    principalId: userPrincipalId
    scope: account.id
  }
}

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
