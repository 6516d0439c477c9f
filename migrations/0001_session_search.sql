ALTER TABLE "sessions" ADD COLUMN "search_text" text;--> statement-breakpoint
CREATE INDEX "sessions_search_idx" ON "sessions" USING gin (to_tsvector('english', coalesce("search_text", '')));