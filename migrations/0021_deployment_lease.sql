-- While a deployment runs, the process running it renews lease_until (wall-clock
-- microseconds since the epoch) every few seconds. A deployment still Accepted or Running
-- whose lease has lapsed was interrupted (its process stopped): it is reported Failed, and
-- a new PUT of the same name may replace it. Null for deployments stored before.
alter table deployment add column lease_until bigint;
