-- revision: how many times the job's row has been updated since it was created. The job
-- list keeps the rendered bodies of ended jobs in memory and reads only each job's id,
-- start time, status and revision for a page: a body is reused only while the revision
-- it was rendered from is the row's.
alter table backup_job add column revision bigint not null default 0;
