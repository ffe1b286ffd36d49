-- An object's version history (`atlas policies history`, the versions API) is read by object id.
CREATE INDEX policy_versions_object_idx ON policy_versions (tenant_id, object_id, version);
