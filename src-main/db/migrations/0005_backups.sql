CREATE TABLE `backup_destinations` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`settings` text NOT NULL,
	`sealed_secrets` blob,
	`created_at` integer NOT NULL,
	`created_by` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `backup_destinations_name_unique` ON `backup_destinations` (`name`);--> statement-breakpoint
CREATE TABLE `backup_policies` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`app` text,
	`node_id` text,
	`spec` text NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`pushed_version` integer DEFAULT 0 NOT NULL,
	`push_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `backup_policies_name_unique` ON `backup_policies` (`name`);--> statement-breakpoint
CREATE TABLE `backup_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`policy_id` text NOT NULL,
	`policy_name` text NOT NULL,
	`app` text,
	`node_id` text,
	`source_kind` text NOT NULL,
	`trigger` text NOT NULL,
	`attempt` integer NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`status` text NOT NULL,
	`plain_bytes` integer DEFAULT 0 NOT NULL,
	`sealed_bytes` integer DEFAULT 0 NOT NULL,
	`sha256` text,
	`copies` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `backup_runs_policy` ON `backup_runs` (`policy_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `backup_runs_started` ON `backup_runs` (`started_at`);