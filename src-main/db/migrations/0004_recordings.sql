CREATE TABLE `recordings` (
	`id` text PRIMARY KEY NOT NULL,
	`actor` text NOT NULL,
	`source` text NOT NULL,
	`node_id` text NOT NULL,
	`node_name` text NOT NULL,
	`app` text,
	`container` text NOT NULL,
	`command` text NOT NULL,
	`tty` integer NOT NULL,
	`cols` integer NOT NULL,
	`rows` integer NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`exit_code` integer,
	`end_reason` text,
	`state` text NOT NULL,
	`file` text NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`input_bytes` integer DEFAULT 0 NOT NULL,
	`output_bytes` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `recordings_started` ON `recordings` (`started_at`);--> statement-breakpoint
CREATE INDEX `recordings_node` ON `recordings` (`node_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `recordings_app` ON `recordings` (`app`,`started_at`);