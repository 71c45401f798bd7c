//! Snapshots of what the derive generates, so a reviewer sees every change to the expansion.

use quote::quote;

fn expand(input: proc_macro2::TokenStream) -> String {
    let input: syn::DeriveInput = syn::parse2(input).expect("test input parses");
    let output = crate::expand::derive(&input);
    let file: syn::File = syn::parse2(output).expect("expansion parses as items");
    prettyplease::unparse(&file)
}

#[test]
fn timestamp_marker_found_by_name() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        struct User {
            id: i32,
            deleted_at: Option<NaiveDateTime>,
        }
    }));
}

#[test]
fn timestamp_marker_with_audit_columns_and_table_path() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[diesel(table_name = crate::schema::users, check_for_backend(diesel::pg::Pg))]
        struct User<'a> {
            id: i32,
            name: Cow<'a, str>,
            #[diesel(column_name = removed_on)]
            #[soft_delete(marker = timestamp)]
            removed: Option<DateTime<Utc>>,
            #[soft_delete(deleted_by)]
            removed_by: Option<Uuid>,
            #[soft_delete(reason)]
            why: Option<String>,
        }
    }));
}

#[test]
fn deleted_flag_found_by_name() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[diesel(table_name = posts)]
        struct Post {
            id: i32,
            deleted: bool,
        }
    }));
}

#[test]
fn active_flag_with_deletion_time_and_crate_override() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[soft_delete(crate = "my_app::sd")]
        struct ExamAttempt {
            id: i32,
            #[soft_delete(marker = active)]
            active: bool,
            deleted_at: Option<NaiveDateTime>,
        }
    }));
}

#[test]
fn mistakes_expand_to_errors_and_stub_impls() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        struct User {
            id: i32,
            #[soft_delete(marker = hidden, deleted_by)]
            deleted: bool,
            #[soft_delete(colour)]
            name: String,
        }
    }));
}

#[test]
fn active_unique_keys_with_counter_name_and_composite_primary_key() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[diesel(table_name = attempts, primary_key(tenant, id))]
        #[active_unique(fields = "exam_id, learner_id", counter = retry)]
        #[active_unique(fields = "ticket", name = "one_live_ticket")]
        struct Attempt {
            tenant: i32,
            id: i32,
            exam_id: i32,
            #[diesel(column_name = student)]
            learner_id: i32,
            ticket: String,
            #[soft_delete(marker = active)]
            active: bool,
            retry: i16,
        }
    }));
}

#[test]
fn active_unique_key_with_option_fields() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[active_unique(fields = "owner_id, folder_id, label", name = "one_live_draft", nulls = not_distinct)]
        #[active_unique(fields = "owner_id, slot")]
        struct Draft {
            id: i32,
            owner_id: i32,
            folder_id: Option<i32>,
            label: std::option::Option<String>,
            slot: Option<i16>,
            deleted_at: Option<NaiveDateTime>,
        }
    }));
}

#[test]
fn relations_of_every_rule_with_a_batch_column() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[diesel(table_name = schema::orders)]
        #[soft_delete(children(
            schema::order_items::order_id = cascade,
            payments::order_id = protect,
            schema::refunds::order_id = set_null,
            coupons::order_id = set_default,
            sessions::order_id = cascade(hard_delete),
            notes::order_id = do_nothing,
        ))]
        struct Order {
            id: i32,
            #[soft_delete(marker = deleted)]
            deleted: bool,
            #[soft_delete(batch)]
            archive_batch: Option<i64>,
        }
    }));
}

#[test]
fn active_unique_mistakes_are_all_reported() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[active_unique(fields = "email, emial, email", counter = deleted_at)]
        #[active_unique(fields = "")]
        #[active_unique(field = "email")]
        struct User {
            id: i32,
            email: String,
            deleted_at: Option<NaiveDateTime>,
        }
    }));
}

#[test]
fn relation_mistakes_are_all_reported() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[soft_delete(children(orders::user_id = cascade, orders::user_id = protect))]
        struct User {
            id: i32,
            #[soft_delete(marker = active)]
            active: bool,
        }
    }));
}

#[test]
fn several_markers_each_with_its_own_columns() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[diesel(table_name = post)]
        #[soft_delete(children(comment::post_id = cascade))]
        #[active_unique(fields = "slug")]
        struct Post {
            id: PostId,
            slug: String,
            #[soft_delete(marker = deleted, primary)]
            deleted: bool,
            #[soft_delete(deleted_at(deleted))]
            deleted_at: Option<DateTime<Utc>>,
            #[soft_delete(marker = deleted)]
            removed: bool,
            #[soft_delete(deleted_by(removed))]
            removed_by: Option<PersonId>,
            #[soft_delete(reason(removed))]
            removal_reason: Option<String>,
            #[soft_delete(marker = timestamp)]
            local_removed_at: Option<NaiveDateTime>,
            #[soft_delete(batch)]
            archive_batch: Option<i64>,
        }
    }));
}

#[test]
fn several_marker_mistakes_are_all_reported() {
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        struct Post {
            id: i32,
            #[soft_delete(marker = deleted)]
            deleted: bool,
            #[soft_delete(marker = deleted)]
            removed: bool,
            #[soft_delete(deleted_by)]
            removed_by: Option<i32>,
            #[soft_delete(reason(hidden))]
            why: Option<String>,
            deleted_at: Option<NaiveDateTime>,
            #[soft_delete(primary)]
            title: String,
        }
    }));
}

#[test]
fn keyword_fields_and_columns_in_an_active_unique_key() {
    // `r#type` as written, `type` unraw, and a column renamed to a keyword by a string.
    insta::assert_snapshot!(expand(quote! {
        #[derive(SoftDelete)]
        #[active_unique(fields = "r#type, game", counter = loop)]
        #[active_unique(fields = "type")]
        struct Ticket {
            id: i32,
            r#type: String,
            #[diesel(column_name = "match")]
            game: i32,
            r#loop: i32,
            deleted_at: Option<NaiveDateTime>,
        }
    }));
}

#[test]
fn a_bool_marker_spelled_by_its_path_must_say_what_true_means() {
    // A type a `macro_rules!` passes on as `$ty` arrives in an invisible group.
    let from_a_macro = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote!(bool));
    for ty in [
        quote!(std::primitive::bool),
        quote!(::core::primitive::bool),
        quote!((bool)),
        quote!(#from_a_macro),
    ] {
        let expanded = expand(quote! {
            #[derive(SoftDelete)]
            struct Post {
                id: i32,
                #[soft_delete(marker)]
                hidden: #ty,
            }
        });
        assert!(
            expanded.contains("a bool marker must say what `true` means"),
            "{ty}:\n{expanded}"
        );
    }
}
