ALTER TABLE "sessions" ADD COLUMN "origin" text DEFAULT 'message' NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "answers" jsonb;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "client_tools" jsonb DEFAULT '[]'::jsonb NOT NULL;