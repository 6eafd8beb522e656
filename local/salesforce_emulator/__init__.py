"""A local Salesforce: OAuth, REST sObjects, SOQL, sObject Collections and Bulk API 2.0 over HTTPS."""
