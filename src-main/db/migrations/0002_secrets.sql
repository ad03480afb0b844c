CREATE TABLE `secret_versions` (
	`app_id` text NOT NULL,
	`version` integer NOT NULL,
	`sealed` blob NOT NULL,
	`entries` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`app_id`) REFERENCES `apps`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `secret_versions_app_version` ON `secret_versions` (`app_id`,`version`);