-- The indexes the library finds rows by (README, "Indexes"): every edge's column, and the
-- deletion time of every table an archive hides rows of. `check_schema` reports a missing one.
CREATE INDEX users_deleted_at ON users (deleted_at);
CREATE INDEX orders_user_id ON orders (user_id);
CREATE INDEX order_items_order_id ON order_items (order_id);
CREATE INDEX order_items_deleted_at ON order_items (deleted_at);
CREATE INDEX reviews_author_id ON reviews (author_id);
CREATE INDEX invoices_user_id ON invoices (user_id);
CREATE INDEX comments_author_id ON comments (author_id);
CREATE INDEX comments_parent_id ON comments (parent_id);
