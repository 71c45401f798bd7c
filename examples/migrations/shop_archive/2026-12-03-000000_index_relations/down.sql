DROP INDEX comments_parent_id;
DROP INDEX comments_author_id;
DROP INDEX invoices_user_id;
DROP INDEX reviews_author_id;
DROP INDEX order_items_deleted_at;
DROP INDEX order_items_order_id;
DROP INDEX orders_user_id;
DROP INDEX users_deleted_at;
