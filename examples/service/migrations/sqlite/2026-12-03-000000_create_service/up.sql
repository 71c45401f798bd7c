-- The service's tables on SQLite. The last statements are the library's DDL (journal, archive
-- log, active-unique indexes): a test checks they are exactly what `soft_delete_runtime::ddl`
-- generates.

CREATE TABLE members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    deleted_at TIMESTAMP NULL,
    deleted_by TEXT NULL,
    deletion_reason TEXT NULL,
    archive_batch BIGINT NULL
);

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id INTEGER NOT NULL REFERENCES members (id),
    code TEXT NOT NULL,
    deleted_at TIMESTAMP NULL,
    archive_batch BIGINT NULL
);
CREATE INDEX orders_member_id ON orders (member_id);

CREATE TABLE order_items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    sku TEXT NOT NULL,
    deleted_at TIMESTAMP NULL,
    archive_batch BIGINT NULL
);
CREATE INDEX order_items_order_id ON order_items (order_id);

CREATE TABLE posts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id INTEGER NOT NULL REFERENCES members (id),
    title TEXT NOT NULL,
    deleted_at TIMESTAMP NULL,
    archive_batch BIGINT NULL
);
CREATE INDEX posts_member_id ON posts (member_id);

CREATE TABLE reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id INTEGER NULL REFERENCES members (id),
    body TEXT NOT NULL
);
CREATE INDEX reviews_author_id ON reviews (author_id);

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id INTEGER NOT NULL REFERENCES members (id),
    total INTEGER NOT NULL,
    deleted_at TIMESTAMP NULL
);
CREATE INDEX invoices_member_id ON invoices (member_id);

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    exam_id INTEGER NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id),
    started TIMESTAMP NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    retry INTEGER NOT NULL DEFAULT 0
);

-- library DDL
CREATE TABLE `soft_delete_journal` (`batch_id` BIGINT NOT NULL, `table_name` TEXT NOT NULL, `column_name` TEXT NOT NULL, `row_key` TEXT NOT NULL, `old_value` TEXT NULL, `new_value` TEXT NULL, PRIMARY KEY (`batch_id`, `table_name`, `column_name`, `row_key`));
CREATE INDEX `soft_delete_journal_link` ON `soft_delete_journal` (`table_name`, `column_name`, `row_key`, `batch_id`);
CREATE TABLE `soft_delete_archive_log` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `archived_at` TIMESTAMP NOT NULL, `root_table` TEXT NOT NULL, `root_key` TEXT NULL, `root_count` BIGINT NOT NULL, `archived_by` TEXT NULL, `reason` TEXT NULL, `counts` TEXT NOT NULL, `restored_at` TIMESTAMP NULL, `restored_by` TEXT NULL, CONSTRAINT `soft_delete_archive_log_stamp` UNIQUE (`archived_at`));
CREATE UNIQUE INDEX `one_live_member_email` ON `members` (`email`) WHERE `deleted_at` IS NULL;
CREATE UNIQUE INDEX `one_live_attempt` ON `attempts` (`exam_id`, `member_id`) WHERE `active`;
