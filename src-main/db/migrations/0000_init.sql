CREATE TABLE `api_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`actor` text NOT NULL,
	`token_sha256` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_token_sha256_unique` ON `api_tokens` (`token_sha256`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`actor` text NOT NULL,
	`source` text NOT NULL,
	`action` text NOT NULL,
	`target` text NOT NULL,
	`result` text NOT NULL,
	`detail` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `known_hosts` (
	`host` text NOT NULL,
	`port` integer NOT NULL,
	`key_type` text NOT NULL,
	`fingerprint` text NOT NULL,
	`host_key` text NOT NULL,
	`pinned_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `known_hosts_endpoint` ON `known_hosts` (`host`,`port`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`host` text NOT NULL,
	`port` integer NOT NULL,
	`ssh_user` text NOT NULL,
	`host_key_fingerprint` text NOT NULL,
	`host_key` text NOT NULL,
	`ssh_auth` blob NOT NULL,
	`agent_port` integer NOT NULL,
	`service_mode` text NOT NULL,
	`agent_version` text NOT NULL,
	`agent_sha256` text NOT NULL,
	`facts` text,
	`usage` text,
	`labels` text NOT NULL,
	`last_seen_at` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_name_unique` ON `nodes` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_endpoint_unique` ON `nodes` (`host`,`port`,`ssh_user`);--> statement-breakpoint
CREATE TABLE `settings` (
	`name` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `vault` (
	`name` text PRIMARY KEY NOT NULL,
	`value` blob NOT NULL,
	`created_at` integer NOT NULL
);
