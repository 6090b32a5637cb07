-- Ids of the last messages whose activity a conversation has recorded, so that a duplicate delivery
-- racing the first one cannot count the same message twice (see inbox.ConversationPatch).
ALTER TABLE conversations ADD COLUMN applied_activity TEXT NOT NULL DEFAULT '[]';
