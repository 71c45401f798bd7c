//! The tables, as Diesel sees them. The SQL is in `migrations/` (one directory per backend).

diesel::table! {
    /// The people of the guide's API: soft-deleted with who and why, archived with their
    /// orders and posts.
    members (id) {
        id -> Integer,
        name -> Text,
        email -> Text,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Text>,
        deletion_reason -> Nullable<Text>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// A member's orders: archived with the member.
    orders (id) {
        id -> Integer,
        member_id -> Integer,
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// An order's lines: archived with the order.
    order_items (id) {
        id -> Integer,
        order_id -> Integer,
        sku -> Text,
        deleted_at -> Nullable<Timestamp>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// A member's posts: archived with the member.
    posts (id) {
        id -> Integer,
        member_id -> Integer,
        title -> Text,
        deleted_at -> Nullable<Timestamp>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Reviews stay when their author is archived, without the author (`set_null`).
    reviews (id) {
        id -> Integer,
        author_id -> Nullable<Integer>,
        body -> Text,
    }
}

diesel::table! {
    /// An unpaid (live) invoice refuses the archive of its member (`protect`).
    invoices (id) {
        id -> Integer,
        member_id -> Integer,
        total -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Exam attempts: one live attempt per exam and member, every earlier one kept.
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        member_id -> Integer,
        started -> Timestamp,
        active -> Bool,
        retry -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    members,
    orders,
    order_items,
    posts,
    reviews,
    invoices,
    attempts
);
