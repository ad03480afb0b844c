CREATE TABLE `event_links` (
	`node_id` text NOT NULL,
	`stream` text NOT NULL,
	`stream_created` text,
	`last_stream_seq` integer NOT NULL,
	`stored` integer NOT NULL,
	`lost` integer NOT NULL,
	`last_event_at_ms` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`node_id`, `stream`)
);
--> statement-breakpoint
CREATE TABLE `metrics_samples` (
	`id` text PRIMARY KEY NOT NULL,
	`node_id` text NOT NULL,
	`app` text NOT NULL,
	`container` text NOT NULL,
	`at_ms` integer NOT NULL,
	`cpu_percent` real NOT NULL,
	`mem_bytes` integer NOT NULL,
	`mem_limit_bytes` integer NOT NULL,
	`restarts` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `metrics_samples_app_at` ON `metrics_samples` (`app`,`at_ms`);--> statement-breakpoint
CREATE INDEX `metrics_samples_at` ON `metrics_samples` (`at_ms`);--> statement-breakpoint
CREATE TABLE `node_events` (
	`id` text PRIMARY KEY NOT NULL,
	`node_id` text NOT NULL,
	`seq` integer NOT NULL,
	`stream_seq` integer NOT NULL,
	`at_ms` integer NOT NULL,
	`received_at_ms` integer NOT NULL,
	`kind` text NOT NULL,
	`severity` text NOT NULL,
	`app` text,
	`container` text,
	`release` text,
	`message` text NOT NULL,
	`data` text
);
--> statement-breakpoint
CREATE INDEX `node_events_node_seq` ON `node_events` (`node_id`,`seq`);--> statement-breakpoint
CREATE INDEX `node_events_node_stream_seq` ON `node_events` (`node_id`,`stream_seq`);--> statement-breakpoint
CREATE INDEX `node_events_app_at` ON `node_events` (`app`,`at_ms`);--> statement-breakpoint
CREATE INDEX `node_events_app_kind_at` ON `node_events` (`app`,`kind`,`at_ms`);--> statement-breakpoint
CREATE INDEX `node_events_at` ON `node_events` (`at_ms`);