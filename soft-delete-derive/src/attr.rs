//! The attribute grammar: what may be written inside `#[soft_delete(...)]` and
//! `#[active_unique(...)]`, and the parts of `#[diesel(...)]` this derive reads. One enum per attribute level, each with `impl Parse`;
//! every parsed item keeps the span of the key the user wrote.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Attribute, Ident, LitStr, Path, Token};

/// The name of this derive's helper attribute.
pub(crate) const SOFT_DELETE: &str = "soft_delete";
/// The helper attribute declaring an active-unique key: `#[active_unique(fields = "a, b")]`.
pub(crate) const ACTIVE_UNIQUE: &str = "active_unique";
/// Diesel's attribute, read for `table_name`, `column_name` and `primary_key`.
const DIESEL: &str = "diesel";

/// Keys of `#[soft_delete(...)]` on the struct.
const STRUCT_KEYS: &[&str] = &["crate", "children"];
/// Keys of `#[soft_delete(...)]` on a field.
const FIELD_KEYS: &[&str] = &[
    "marker",
    "primary",
    "deleted_by",
    "reason",
    "deleted_at",
    "batch",
];
/// Values of `marker = ...`.
const STRATEGIES: &[&str] = &["timestamp", "deleted", "active"];
/// Keys of `#[active_unique(...)]`.
const ACTIVE_UNIQUE_KEYS: &[&str] = &["fields", "counter", "name", "nulls"];
/// Values of `nulls = ...` in `#[active_unique(...)]`.
const NULLS_MODES: &[&str] = &["distinct", "not_distinct"];
/// The correct form of `#[active_unique(...)]`, for help lines.
const ACTIVE_UNIQUE_FORM: &str =
    "#[active_unique(fields = \"exam_id, learner_id\", counter = retry)]";
/// The rules of an edge in `children(table::column = rule)`.
const RULES: &[&str] = &[
    "cascade",
    "cascade(hard_delete)",
    "protect",
    "set_null",
    "set_default",
    "do_nothing",
];

/// A parsed item with the span of the key that introduced it.
#[derive(Debug, Clone)]
pub(crate) struct Spanned<T> {
    pub(crate) item: T,
    pub(crate) span: Span,
}

/// `#[soft_delete(...)]` on the struct.
#[derive(Debug, Clone)]
pub(crate) enum StructAttr {
    /// `crate = "path"` or `crate = path`: where the runtime crate is, for users who
    /// re-export it.
    Crate(Path),
    /// `children(table::column = rule, ...)`: the edges from this model's table to the
    /// tables that reference it.
    Children(Vec<EdgeAttr>),
}

/// One edge in `children(...)`: `orders::user_id = cascade`.
#[derive(Debug, Clone)]
pub(crate) struct EdgeAttr {
    /// The child table's module, e.g. `orders` or `crate::schema::orders`.
    pub(crate) table: Path,
    /// The child's foreign-key column, e.g. `user_id`.
    pub(crate) column: Ident,
    /// The rule, with the span of its name.
    pub(crate) rule: Spanned<RuleName>,
}

/// The rule of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleName {
    /// `cascade`: archive the children.
    Cascade,
    /// `cascade(hard_delete)`: delete the children for good.
    HardDelete,
    /// `protect`: refuse while live children exist.
    Protect,
    /// `set_null`: cut the link.
    SetNull,
    /// `set_default`: reset the link to the column default.
    SetDefault,
    /// `do_nothing`: leave the children alone.
    DoNothing,
}

/// `#[soft_delete(...)]` on a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldAttr {
    /// `marker` or `marker = timestamp | deleted | active`.
    Marker(Option<Spanned<StrategyName>>),
    /// `primary`, beside `marker`: the marker plain writes, archives and purges use, on a model
    /// with several.
    Primary,
    /// `deleted_by` or `deleted_by(marker)`: the audit column recording who deleted the row
    /// (through the marker field named, on a model with several markers).
    DeletedBy(Option<Ident>),
    /// `reason` or `reason(marker)`: the audit column recording why.
    Reason(Option<Ident>),
    /// `deleted_at` or `deleted_at(marker)`: when the row was deleted, for a marker that is a
    /// flag.
    DeletedAt(Option<Ident>),
    /// `batch`: the id of the archive batch that hid the row.
    Batch,
}

/// The strategy named in `marker = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrategyName {
    /// `marker = timestamp`: `NULL` is live.
    Timestamp,
    /// `marker = deleted`: `false` is live.
    Deleted,
    /// `marker = active`: `true` is live.
    Active,
}

impl PartialEq for Spanned<StrategyName> {
    fn eq(&self, other: &Self) -> bool {
        self.item == other.item
    }
}
impl Eq for Spanned<StrategyName> {}

impl FieldAttr {
    /// The key as the user wrote it, for messages.
    pub(crate) fn key(&self) -> &'static str {
        match self {
            FieldAttr::Marker(_) => "marker",
            FieldAttr::Primary => "primary",
            FieldAttr::DeletedBy(_) => "deleted_by",
            FieldAttr::Reason(_) => "reason",
            FieldAttr::DeletedAt(_) => "deleted_at",
            FieldAttr::Batch => "batch",
        }
    }

    /// For a column that belongs to one marker (`deleted_by`, `reason`, `deleted_at`): the
    /// marker field it names, if it names one.
    pub(crate) fn owner(&self) -> Option<Option<&Ident>> {
        match self {
            FieldAttr::DeletedBy(owner)
            | FieldAttr::Reason(owner)
            | FieldAttr::DeletedAt(owner) => Some(owner.as_ref()),
            FieldAttr::Marker(_) | FieldAttr::Primary | FieldAttr::Batch => None,
        }
    }
}

fn expected_one_of(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    quoted.join(", ")
}

impl Parse for Spanned<StructAttr> {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let span = key.span();
        let item = match key.to_string().as_str() {
            "crate" => {
                input.parse::<Token![=]>()?;
                let path = if input.peek(LitStr) {
                    input.parse::<LitStr>()?.parse_with(Path::parse_mod_style)?
                } else {
                    Path::parse_mod_style(input)?
                };
                StructAttr::Crate(path)
            }
            "children" => {
                let content;
                syn::parenthesized!(content in input);
                let edges = Punctuated::<EdgeAttr, Token![,]>::parse_terminated(&content)?;
                StructAttr::Children(edges.into_iter().collect())
            }
            other if FIELD_KEYS.contains(&other) => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "`{other}` belongs on a field, not on the struct\n\
                         help: put it on the field it describes: `#[soft_delete({other})]`"
                    ),
                ))
            }
            other => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "unknown key `{other}` in `#[soft_delete(...)]` on a struct; expected one of {}\n\
                         help: the correct format looks like `#[soft_delete(crate = \"my_reexport::soft_delete_runtime\")]`",
                        expected_one_of(STRUCT_KEYS)
                    ),
                ))
            }
        };
        Ok(Spanned { item, span })
    }
}

impl Parse for Spanned<FieldAttr> {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let span = key.span();
        let item = match key.to_string().as_str() {
            "marker" => {
                if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    FieldAttr::Marker(Some(input.parse()?))
                } else {
                    FieldAttr::Marker(None)
                }
            }
            "primary" => FieldAttr::Primary,
            "deleted_by" => FieldAttr::DeletedBy(parse_owner(input, "deleted_by")?),
            "reason" => FieldAttr::Reason(parse_owner(input, "reason")?),
            "deleted_at" => FieldAttr::DeletedAt(parse_owner(input, "deleted_at")?),
            "batch" => FieldAttr::Batch,
            other if STRUCT_KEYS.contains(&other) => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "`{other}` belongs on the struct, not on a field\n\
                         help: write `#[soft_delete({other} = ...)]` above the struct"
                    ),
                ))
            }
            other => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "unknown key `{other}` in `#[soft_delete(...)]` on a field; expected one of {}\n\
                         help: the correct format looks like `#[soft_delete(marker = timestamp)]`",
                        expected_one_of(FIELD_KEYS)
                    ),
                ))
            }
        };
        // A key that takes no value must not be given one.
        if !matches!(item, FieldAttr::Marker(_)) && input.peek(Token![=]) {
            let form = match item.owner() {
                Some(_) => format!(
                    "`#[soft_delete({0})]`, or `#[soft_delete({0}(removed))]` for the marker field `removed` of a model with several",
                    item.key()
                ),
                None => format!("`#[soft_delete({})]`", item.key()),
            };
            return Err(syn::Error::new(
                input.span(),
                format!(
                    "`{}` takes no value\nhelp: the correct format looks like {form}",
                    item.key()
                ),
            ));
        }
        Ok(Spanned { item, span })
    }
}

/// The marker field in `key(marker)`, if the key is followed by parentheses.
fn parse_owner(input: ParseStream<'_>, key: &str) -> syn::Result<Option<Ident>> {
    if !input.peek(syn::token::Paren) {
        return Ok(None);
    }
    let content;
    syn::parenthesized!(content in input);
    let owner = Ident::parse_any(&content).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!(
                "`{key}(...)` names the marker field the column belongs to\n\
                 help: the correct format looks like `#[soft_delete({key}(removed))]`"
            ),
        )
    })?;
    if !content.is_empty() {
        return Err(syn::Error::new(
            content.span(),
            format!(
                "`{key}(...)` names one marker field\n\
                 help: the correct format looks like `#[soft_delete({key}(removed))]`"
            ),
        ));
    }
    Ok(Some(owner))
}

impl Parse for Spanned<StrategyName> {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name = Ident::parse_any(input)?;
        let span = name.span();
        let item = match name.to_string().as_str() {
            "timestamp" => StrategyName::Timestamp,
            "deleted" => StrategyName::Deleted,
            "active" => StrategyName::Active,
            other => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "unknown marker strategy `{other}`; expected one of {}\n\
                         help: `timestamp` (NULL = live), `deleted` (false = live) or `active` (true = live)",
                        expected_one_of(STRATEGIES)
                    ),
                ))
            }
        };
        Ok(Spanned { item, span })
    }
}

impl Parse for EdgeAttr {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut path = Path::parse_mod_style(input)?;
        let help = "help: an edge names the child's foreign-key column and a rule, \
                    e.g. `children(orders::user_id = cascade)`";
        let column = match path.segments.pop() {
            Some(last) if !path.segments.is_empty() => last.into_value().ident,
            _ => {
                return Err(syn::Error::new_spanned(
                    &path,
                    format!("expected the child's column as `table::column`\n{help}"),
                ))
            }
        };
        // `a::b::` after popping: drop the trailing separator.
        let last = path.segments.pop().map(syn::punctuated::Pair::into_value);
        if let Some(last) = last {
            path.segments.push(last);
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                input.span(),
                format!("expected `= <rule>` after `{}`\n{help}", column),
            ));
        }
        input.parse::<Token![=]>()?;
        let rule = input.parse()?;
        Ok(EdgeAttr {
            table: path,
            column,
            rule,
        })
    }
}

impl Parse for Spanned<RuleName> {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name = Ident::parse_any(input)?;
        let span = name.span();
        let item = match name.to_string().as_str() {
            "cascade" if input.peek(syn::token::Paren) => {
                let content;
                syn::parenthesized!(content in input);
                let option = Ident::parse_any(&content)?;
                if option != "hard_delete" || !content.is_empty() {
                    return Err(syn::Error::new(
                        option.span(),
                        format!(
                            "unknown option `{option}` of `cascade`; expected `hard_delete`\n\
                             help: `cascade(hard_delete)` deletes the children for good, \
                             `cascade` archives them"
                        ),
                    ));
                }
                RuleName::HardDelete
            }
            "cascade" => RuleName::Cascade,
            "protect" => RuleName::Protect,
            "set_null" => RuleName::SetNull,
            "set_default" => RuleName::SetDefault,
            "do_nothing" => RuleName::DoNothing,
            other => {
                return Err(syn::Error::new(
                    span,
                    format!(
                        "unknown rule `{other}`; expected one of {}\n\
                         help: the correct format looks like `children(orders::user_id = cascade)`",
                        expected_one_of(RULES)
                    ),
                ))
            }
        };
        Ok(Spanned { item, span })
    }
}

/// Parses every `#[soft_delete(...)]` among `attrs` with `T`'s grammar. Errors are
/// collected in `errors` so all of them are reported.
pub(crate) fn parse_soft_delete<T>(attrs: &[Attribute], errors: &mut Errors) -> Vec<T>
where
    T: Parse,
{
    let mut items = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(SOFT_DELETE)) {
        match attr.parse_args_with(Punctuated::<T, Token![,]>::parse_terminated) {
            Ok(parsed) => items.extend(parsed),
            Err(e) => errors.push(e),
        }
    }
    items
}

/// Every top-level `key ...` item of the `#[diesel(...)]` attributes: the key's identifier
/// and the tokens after it. Items that do not start with an identifier are left to Diesel.
fn diesel_items(
    attrs: &[Attribute],
) -> impl Iterator<Item = (Ident, std::vec::IntoIter<TokenTree>)> + '_ {
    attrs
        .iter()
        .filter(|a| a.path().is_ident(DIESEL))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::List(list) => Some(split_top_level_commas(list.tokens.clone())),
            _ => None,
        })
        .flatten()
        .filter_map(|item| {
            let mut tokens = item.into_iter();
            match tokens.next() {
                Some(TokenTree::Ident(ident)) => Some((ident, tokens)),
                _ => None,
            }
        })
}

/// `table_name` or `column_name` from `#[diesel(...)]`, tolerating every other key Diesel's
/// derives accept (this derive does not own that attribute).
pub(crate) fn diesel_key(attrs: &[Attribute], key: &str) -> syn::Result<Option<DieselValue>> {
    let mut found = None;
    for (ident, mut tokens) in diesel_items(attrs).filter(|(ident, _)| ident == key) {
        match tokens.next() {
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => {}
            _ => {
                return Err(syn::Error::new(
                    ident.span(),
                    format!("expected `{key} = ...` in `#[diesel(...)]`"),
                ))
            }
        }
        let rest: TokenStream = tokens.collect();
        found = Some(DieselValue::parse(rest, ident.span())?);
    }
    Ok(found)
}

/// The value of a `#[diesel(key = value)]` this derive reads.
#[derive(Debug, Clone)]
pub(crate) struct DieselValue {
    pub(crate) path: Path,
}

impl DieselValue {
    fn parse(tokens: TokenStream, key_span: Span) -> syn::Result<Self> {
        let path = match syn::parse2::<LitStr>(tokens.clone()) {
            // A string that is a keyword names the column as Diesel reads it: `r#type`.
            Ok(lit) => lit.parse_with(Path::parse_mod_style).or_else(|e| {
                match syn::parse_str::<Ident>(&format!("r#{}", lit.value())) {
                    Ok(mut ident) => {
                        ident.set_span(lit.span());
                        Ok(Path::from(ident))
                    }
                    Err(_) => Err(e),
                }
            })?,
            Err(_) => syn::parse2::<Path>(tokens.clone()).map_err(|_| {
                syn::Error::new(key_span, format!("expected a path, found `{tokens}`"))
            })?,
        };
        Ok(DieselValue { path })
    }
}

fn split_top_level_commas(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut items = Vec::new();
    let mut current = Vec::new();
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => items.push(std::mem::take(&mut current)),
            _ => current.push(tt),
        }
    }
    items.push(current);
    items.retain(|i| !i.is_empty());
    items
}

/// Collects errors so every mistake is reported at once (serde_derive's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn error(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Whether any error was collected.
    pub(crate) fn any(&self) -> bool {
        self.0.is_some()
    }

    /// `Err` with every collected error, or `Ok(value)` when there were none.
    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// One `key = value` of `#[active_unique(...)]` on the struct.
#[derive(Debug, Clone)]
pub(crate) enum KeyItem {
    /// `fields = "a, b"`: the fields whose values are unique among live rows.
    Fields(FieldList),
    /// `counter = retry` or `counter = "retry"`: the field counting the rows of a key.
    Counter(Ident),
    /// `name = "one_live_attempt"`: the index (or constraint) name in the DDL.
    Name(LitStr),
    /// `nulls = distinct | not_distinct`: how the `NULL`s of `Option` fields compare.
    Nulls(Spanned<NullsMode>),
}

impl KeyItem {
    fn key(&self) -> &'static str {
        match self {
            KeyItem::Fields(_) => "fields",
            KeyItem::Counter(_) => "counter",
            KeyItem::Name(_) => "name",
            KeyItem::Nulls(_) => "nulls",
        }
    }
}

/// `nulls = ...` of `#[active_unique(...)]`, as PostgreSQL's `NULLS [NOT] DISTINCT` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NullsMode {
    /// `nulls = distinct` (the default): a `NULL` equals nothing, as in a unique index, so rows
    /// with one are not unique.
    Distinct,
    /// `nulls = not_distinct`: `NULL` is a value of the key like any other.
    NotDistinct,
}

/// The fields of `fields = "a, b"`, each ident spanned at the string literal (a literal has
/// no finer spans on stable Rust).
#[derive(Debug, Clone)]
pub(crate) struct FieldList {
    pub(crate) idents: Vec<Ident>,
    /// The span of the string literal.
    pub(crate) span: Span,
}

impl Parse for Spanned<KeyItem> {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let span = key.span();
        let name = key.to_string();
        if !ACTIVE_UNIQUE_KEYS.contains(&name.as_str()) {
            return Err(syn::Error::new(
                span,
                format!(
                    "unknown key `{name}` in `#[active_unique(...)]`; expected one of {}\n\
                     help: the correct format looks like `{ACTIVE_UNIQUE_FORM}`",
                    expected_one_of(ACTIVE_UNIQUE_KEYS)
                ),
            ));
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{name}` needs a value\nhelp: the correct format looks like `{ACTIVE_UNIQUE_FORM}`"
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        let item = match name.as_str() {
            "fields" => {
                let lit: LitStr = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!(
                            "`fields` takes a string listing the key's fields\n\
                             help: the correct format looks like `{ACTIVE_UNIQUE_FORM}`"
                        ),
                    )
                })?;
                let idents = lit
                    .parse_with(|input: ParseStream<'_>| {
                        Punctuated::<Ident, Token![,]>::parse_terminated_with(input, Ident::parse_any)
                    })
                    .map_err(|_| {
                        syn::Error::new(
                            lit.span(),
                            format!(
                                "`fields` must be field names separated by commas, not `{}`\n\
                                 help: the correct format looks like `{ACTIVE_UNIQUE_FORM}`",
                                lit.value()
                            ),
                        )
                    })?;
                KeyItem::Fields(FieldList {
                    idents: idents.into_iter().collect(),
                    span: lit.span(),
                })
            }
            "counter" => {
                let ident = if input.peek(LitStr) {
                    let lit: LitStr = input.parse()?;
                    lit.parse_with(Ident::parse_any).map_err(|_| {
                        syn::Error::new(
                            lit.span(),
                            "`counter` names one field\nhelp: the correct format looks like `counter = retry`",
                        )
                    })?
                } else {
                    Ident::parse_any(input)?
                };
                KeyItem::Counter(ident)
            }
            "nulls" => {
                let ident = Ident::parse_any(input).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`nulls` takes `distinct` or `not_distinct`\nhelp: the correct format looks like `nulls = not_distinct`",
                    )
                })?;
                let mode = match ident.to_string().as_str() {
                    "distinct" => NullsMode::Distinct,
                    "not_distinct" => NullsMode::NotDistinct,
                    other => {
                        return Err(syn::Error::new(
                            ident.span(),
                            format!(
                                "unknown `nulls = {other}`; expected one of {}\n\
                                 help: `not_distinct` makes `None` a value of the key; `distinct` (the default) lets rows with a `NULL` repeat",
                                expected_one_of(NULLS_MODES)
                            ),
                        ))
                    }
                };
                KeyItem::Nulls(Spanned {
                    item: mode,
                    span: ident.span(),
                })
            }
            _ => KeyItem::Name(input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`name` takes a string\nhelp: the correct format looks like `name = \"one_live_attempt\"`",
                )
            })?),
        };
        Ok(Spanned { item, span })
    }
}

/// One `#[active_unique(...)]` attribute, its keys gathered.
#[derive(Debug, Clone)]
pub(crate) struct KeyAttr {
    /// The span of the attribute's path (`active_unique`), for errors about the whole key.
    pub(crate) span: Span,
    pub(crate) fields: Option<FieldList>,
    pub(crate) counter: Option<Ident>,
    pub(crate) name: Option<LitStr>,
    pub(crate) nulls: Option<Spanned<NullsMode>>,
}

/// Parses every `#[active_unique(...)]` among the struct's `attrs`. Errors are collected in
/// `errors`; an attribute with an error in one key still yields its other keys.
pub(crate) fn parse_active_unique(attrs: &[Attribute], errors: &mut Errors) -> Vec<KeyAttr> {
    let mut keys = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(ACTIVE_UNIQUE)) {
        let span = attr.path().span();
        let items = match &attr.meta {
            syn::Meta::List(_) => {
                match attr
                    .parse_args_with(Punctuated::<Spanned<KeyItem>, Token![,]>::parse_terminated)
                {
                    Ok(items) => items,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            _ => {
                errors.error(
                    span,
                    format!("`#[active_unique]` needs the key's fields\nhelp: the correct format looks like `{ACTIVE_UNIQUE_FORM}`"),
                );
                continue;
            }
        };
        let mut key = KeyAttr {
            span,
            fields: None,
            counter: None,
            name: None,
            nulls: None,
        };
        for Spanned { item, span } in items {
            let duplicate = match item.clone() {
                KeyItem::Fields(list) => key.fields.replace(list).is_some(),
                KeyItem::Counter(ident) => key.counter.replace(ident).is_some(),
                KeyItem::Name(lit) => key.name.replace(lit).is_some(),
                KeyItem::Nulls(mode) => key.nulls.replace(mode).is_some(),
            };
            if duplicate {
                errors.error(
                    span,
                    format!(
                        "duplicate `{}` in one `#[active_unique(...)]`\n\
                         help: declare another key with another `#[active_unique(...)]` attribute",
                        item.key()
                    ),
                );
            }
        }
        if key.fields.is_none() {
            errors.error(
                span,
                format!(
                    "`#[active_unique(...)]` needs `fields`: the fields unique among live rows\n\
                     help: the correct format looks like `{ACTIVE_UNIQUE_FORM}`"
                ),
            );
            continue;
        }
        keys.push(key);
    }
    keys
}

/// `primary_key(a, b)` from `#[diesel(...)]`: the primary key's columns, when not `id`.
pub(crate) fn diesel_primary_key(attrs: &[Attribute]) -> syn::Result<Option<Vec<Ident>>> {
    let mut found = None;
    for (ident, mut tokens) in diesel_items(attrs).filter(|(ident, _)| ident == "primary_key") {
        let Some(TokenTree::Group(group)) = tokens.next() else {
            return Err(syn::Error::new(
                ident.span(),
                "expected `primary_key(column, ...)` in `#[diesel(...)]`",
            ));
        };
        let fields = Punctuated::<Ident, Token![,]>::parse_terminated.parse2(group.stream())?;
        found = Some(fields.into_iter().collect());
    }
    Ok(found)
}
