//! Link pages: the list, shorten, detail (with QR codes), edit and delete.

use chrono::{DateTime, Utc};
use minijinja::value::Serde;
use minijinja::{Value, context};
use poem::http::StatusCode;
use poem::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use poem::web::{Path, Query};
use poem::{Response, handler};
use serde::{Deserialize, Serialize};

use super::frame::{Flash, Posted, Ui, UiError, field_errors, see_other, see_other_with, sentence};
use super::qr;
use crate::auth::{Action, authorize};
use crate::links::{
    Created, Link, LinkChanges, LinkCursor, LinkError, LinkMeta, LinkQuery, LinkSort, LinkTotal, NewLink,
    RedirectStatus,
};

/// Links per page of the list.
const PAGE_SIZE: i64 = 25;

/// The list's sort choices: (value, label, column, descending).
const SORTS: &[(&str, &str, LinkSort, bool)] = &[
    ("newest", "Newest first", LinkSort::Id, true),
    ("oldest", "Oldest first", LinkSort::Id, false),
    ("updated", "Recently changed", LinkSort::UpdatedAt, true),
    ("url", "URL A→Z", LinkSort::OriginalUrl, false),
    ("url-desc", "URL Z→A", LinkSort::OriginalUrl, true),
    ("slug", "Custom slug A→Z", LinkSort::Brand, false),
];

/// Redirect statuses a link may override the server's default with.
const STATUSES: &[u16] = &[301, 302, 307, 308];

/// A date as pages show it.
pub fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "unknown".to_owned(), |at| at.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// A link as pages show it.
#[derive(Serialize)]
struct LinkView {
    slug: String,
    short_url: String,
    branded_url: Option<String>,
    brand: Option<String>,
    original_url: String,
    title: Option<String>,
    creator_id: String,
    created: String,
    updated: String,
}

impl LinkView {
    fn of(ui: &Ui, link: &Link) -> Self {
        Self {
            slug: link.slug.clone(),
            short_url: ui.state.links.short_url(&link.slug),
            branded_url: link.brand.as_deref().map(|brand| ui.state.links.short_url(brand)),
            brand: link.brand.clone(),
            original_url: link.original_url.clone(),
            title: link.meta.title.clone(),
            creator_id: link.creator_id.clone(),
            created: when(link.created_at),
            updated: when(link.updated_at),
        }
    }
}

/// `GET /app`: the links are the home page.
#[handler]
pub fn home(_ui: Ui) -> Response {
    see_other("/app/links")
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    sort: Option<String>,
    owner: Option<String>,
    creator: Option<String>,
    cursor: Option<String>,
}

/// Counting every match of a broad search costs more than the page itself; beyond this many the list says "10000+".
const COUNT_LIMIT: i64 = 10_000;

/// `GET /app/links?q=&sort=&owner=mine|everyone&creator=&cursor=`. Pages by cursor, so the last page of 100,000
/// links costs what the first does; a cursor that does not decode (an old bookmark) shows the first page.
#[handler]
pub async fn list(ui: Ui, Query(params): Query<ListQuery>) -> poem::Result<Response> {
    let search = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty() && !q.contains('\0'));
    let sort = SORTS.iter().find(|(value, ..)| Some(*value) == params.sort.as_deref()).unwrap_or(&SORTS[0]);
    let mine = params.owner.as_deref() == Some("mine");
    let creator = if mine { Some(ui.me.id.as_str()) } else { params.creator.as_deref().filter(|c| !c.is_empty()) };
    let query = LinkQuery {
        search,
        creator_id: creator,
        sort: sort.2,
        descending: sort.3,
        limit: PAGE_SIZE,
        cursor: params.cursor.as_deref().and_then(|cursor| LinkCursor::decode(cursor).ok()),
        count_limit: Some(COUNT_LIMIT),
        ..LinkQuery::default()
    };
    let page = ui.state.links.page(&ui.caller, &query).await.map_err(UiError::from)?;
    let link_to = |cursor: &LinkCursor| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if let Some(q) = search {
            url.append_pair("q", q);
        }
        url.append_pair("sort", sort.0);
        url.append_pair("owner", if mine { "mine" } else { "everyone" });
        if let (false, Some(creator)) = (mine, creator) {
            url.append_pair("creator", creator);
        }
        url.append_pair("cursor", &cursor.encode());
        format!("/app/links?{}", url.finish())
    };
    let (total, more) = match page.total {
        LinkTotal::Exact(total) => (total, false),
        LinkTotal::MoreThan(total) => (total, true),
    };
    let views: Vec<LinkView> = page.links.iter().map(|link| LinkView::of(&ui, link)).collect();
    let sorts: Vec<Value> =
        SORTS.iter().map(|(value, label, ..)| context! { value => *value, label => *label }).collect();
    Ok(ui.render(
        "links.html",
        "links",
        context! {
            links => Serde(&views),
            total => total,
            more => more,
            q => search.unwrap_or_default(),
            sort => sort.0,
            sorts => sorts,
            mine => mine,
            creator => if mine { None } else { creator },
            previous => page.previous.as_ref().map(link_to),
            next => page.next.as_ref().map(link_to),
        },
    ))
}

/// `GET /app/shorten`.
#[handler]
pub fn shorten_form(ui: Ui) -> Response {
    ui.render("shorten.html", "shorten", context! { url => "", slug => "", errors => context! {} })
}

/// Which form field a link error is about.
fn field_of(error: &LinkError) -> Option<&'static str> {
    match error {
        LinkError::Target(_) | LinkError::Denied(_) | LinkError::Unreachable(_) => Some("url"),
        LinkError::Slug(_)
        | LinkError::SlugRefused(_)
        | LinkError::SlugTaken(_)
        | LinkError::AlreadyShortened { .. } => Some("slug"),
        LinkError::Meta(_) => Some("meta"),
        _ => None,
    }
}

/// `POST /app/shorten` (`url`, optional `slug`): to the new link's page, or the form again with the problem next
/// to its field and the input kept.
#[handler]
pub async fn shorten(ui: Ui, form: Posted) -> poem::Result<Response> {
    let url = form.get("url").unwrap_or_default().trim().to_owned();
    let slug = form.text("slug").map(str::to_owned);
    let request = NewLink { url: url.clone(), brand: slug.clone(), ..NewLink::default() };
    match ui.state.links.create(&ui.caller, request).await {
        Ok((link, created)) => {
            let flash = match created {
                Created::New => Flash::success("Link created. Copy it or download its QR code."),
                Created::Existing => Flash::success("This URL was already shortened; here is its link."),
            };
            Ok(see_other_with(&format!("/app/links/{}", link.slug), &flash))
        }
        Err(error) => match field_of(&error) {
            Some(field) => {
                let errors = field_errors(field, sentence(&error.to_string()));
                Ok(ui.render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "shorten.html",
                    "shorten",
                    context! { url => url, slug => slug.unwrap_or_default(), errors => errors },
                ))
            }
            None => Err(UiError::from(error).into()),
        },
    }
}

/// What the caller may do to `link`, by the policy: which buttons and fields show.
fn may(ui: &Ui, link: &Link) -> Value {
    let caller = &ui.caller;
    context! {
        edit_meta => authorize(caller, Action::EditLinkMeta).is_ok(),
        set_brand => authorize(caller, Action::SetBrand { creator: &link.creator_id, current: link.brand.as_deref() }).is_ok(),
        overrides => authorize(caller, Action::SetRedirectOverrides { creator: &link.creator_id }).is_ok(),
        delete => authorize(caller, Action::DeleteLink).is_ok(),
    }
}

/// The URL a QR code should carry: the custom slug's when there is one (it is what people chose to share).
fn qr_target(ui: &Ui, link: &Link) -> String {
    ui.state.links.short_url(link.brand.as_deref().unwrap_or(&link.slug))
}

fn meta_rows(meta: &LinkMeta) -> Vec<(&'static str, String)> {
    let fields = [
        ("Title", &meta.title),
        ("Description", &meta.description),
        ("Author", &meta.author),
        ("Publisher", &meta.publisher),
        ("Date", &meta.date),
        ("Language", &meta.lang),
        ("Image", &meta.image),
        ("Logo", &meta.logo),
    ];
    fields.into_iter().filter_map(|(label, value)| value.clone().map(|value| (label, value))).collect()
}

/// `GET /app/links/{slug}`: every field, the metadata, the QR code and what the caller may do.
#[handler]
pub async fn detail(ui: Ui, Path(slug): Path<String>) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    let qr = qr::svg_inline(&qr_target(&ui, &link), "QR code of the short link")
        .map_err(|error| UiError::Internal(error.to_string()))?;
    let defaults = &ui.state.config;
    let clicks = super::clicks::card(&ui, link.id).await;
    Ok(ui.render(
        "link.html",
        "links",
        context! {
            link => Serde(LinkView::of(&ui, &link)),
            meta => Serde(meta_rows(&link.meta)),
            qr => Value::from_safe_string(qr),
            redirect_status => link.redirect_status.map(RedirectStatus::get),
            default_status => defaults.redirect.status,
            cache_max_age => link.cache_max_age,
            default_max_age => defaults.cache.max_age.get().as_secs(),
            may => may(&ui, &link),
            clicks => clicks,
        },
    ))
}

/// The edit form's values: the link's, or what was submitted.
fn edit_values(link: &Link) -> Value {
    context! {
        slug => link.brand.clone().unwrap_or_default(),
        title => link.meta.title.clone().unwrap_or_default(),
        description => link.meta.description.clone().unwrap_or_default(),
        redirect_status => link.redirect_status.map(|status| status.get().to_string()).unwrap_or_default(),
        cache_max_age => link.cache_max_age.map(|age| age.to_string()).unwrap_or_default(),
    }
}

fn edit_page(ui: &Ui, status: StatusCode, link: &Link, values: Value, errors: Value) -> Response {
    ui.render_status(
        status,
        "link_edit.html",
        "links",
        context! {
            link => Serde(LinkView::of(ui, link)),
            values => values,
            errors => errors,
            statuses => STATUSES.to_vec(),
            default_status => ui.state.config.redirect.status,
            may => may(ui, link),
        },
    )
}

/// `GET /app/links/{slug}/edit`.
#[handler]
pub async fn edit_form(ui: Ui, Path(slug): Path<String>) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    Ok(edit_page(&ui, StatusCode::OK, &link, edit_values(&link), context! {}))
}

/// `POST /app/links/{slug}/edit`: the fields the form had (those the policy showed); the service checks each.
#[handler]
pub async fn edit(ui: Ui, Path(slug): Path<String>, form: Posted) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    let submitted = context! {
        slug => form.get("slug").unwrap_or_default(),
        title => form.get("title").unwrap_or_default(),
        description => form.get("description").unwrap_or_default(),
        redirect_status => form.get("redirect_status").unwrap_or_default(),
        cache_max_age => form.get("cache_max_age").unwrap_or_default(),
    };
    let invalid = |field: &str, message: String| {
        let errors = field_errors(field, message);
        Ok(edit_page(&ui, StatusCode::UNPROCESSABLE_ENTITY, &link, submitted.clone(), errors))
    };
    let redirect_status = match form.get("redirect_status").map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => match text.parse::<u16>().ok().and_then(|code| RedirectStatus::try_from(code).ok()) {
            Some(status) => Some(Some(status)),
            None => return invalid("redirect_status", "Choose 301, 302, 307, 308 or the server default.".into()),
        },
    };
    let cache_max_age = match form.get("cache_max_age").map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => match text.parse::<u32>().ok().filter(|age| *age <= i32::MAX as u32) {
            Some(age) => Some(Some(age)),
            None => return invalid("cache_max_age", "Give a whole number of seconds, or leave it empty.".into()),
        },
    };
    let meta = (form.get("title").is_some() || form.get("description").is_some()).then(|| {
        let mut meta = link.meta.clone();
        meta.title = form.text("title").map(str::to_owned);
        meta.description = form.text("description").map(str::to_owned);
        meta
    });
    let changes = LinkChanges {
        brand: form.text("slug").map(|slug| Some(slug.to_owned())),
        meta,
        redirect_status,
        cache_max_age,
        ..LinkChanges::default()
    };
    match ui.state.links.update(&ui.caller, &slug, changes).await {
        Ok(updated) => Ok(see_other_with(&format!("/app/links/{}", updated.slug), &Flash::success("Link saved."))),
        Err(error) => {
            let field = match &error {
                LinkError::Meta(_) => Some("title"),
                other => field_of(other),
            };
            match field {
                Some(field) => invalid(field, sentence(&error.to_string())),
                None => Err(UiError::from(error).into()),
            }
        }
    }
}

/// `GET /app/links/{slug}/delete`: the confirmation step.
#[handler]
pub async fn delete_form(ui: Ui, Path(slug): Path<String>) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    Ok(ui.render("link_delete.html", "links", context! { link => Serde(LinkView::of(&ui, &link)), error => () }))
}

/// `POST /app/links/{slug}/delete` with `confirm` ticked: deletes (superusers; the service decides).
#[handler]
pub async fn delete(ui: Ui, Path(slug): Path<String>, form: Posted) -> poem::Result<Response> {
    if form.get("confirm").is_none() {
        let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
        let error = "Tick the box to confirm that the link should be deleted.";
        return Ok(ui.render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "link_delete.html",
            "links",
            context! { link => Serde(LinkView::of(&ui, &link)), error => error },
        ));
    }
    let deleted = ui.state.links.delete(&ui.caller, &slug).await.map_err(UiError::from)?;
    let flash = Flash::success(format!("Link {} deleted.", ui.state.links.short_url(&deleted.slug)));
    Ok(see_other_with("/app/links", &flash))
}

/// A download of `body` named `file`.
fn download(content_type: &'static str, file: &str, body: impl Into<poem::Body>) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))
        .header(CACHE_CONTROL, "private, max-age=300")
        .body(body)
}

/// `GET /app/links/{slug}/qr.svg`.
#[handler]
pub async fn qr_svg(ui: Ui, Path(slug): Path<String>) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    let svg = qr::svg_document(&qr_target(&ui, &link)).map_err(|error| UiError::Internal(error.to_string()))?;
    Ok(download("image/svg+xml", &format!("blink-{}.svg", link.slug), svg))
}

/// `GET /app/links/{slug}/qr.png`.
#[handler]
pub async fn qr_png(ui: Ui, Path(slug): Path<String>) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    let png = qr::png(&qr_target(&ui, &link)).map_err(|error| UiError::Internal(error.to_string()))?;
    Ok(download("image/png", &format!("blink-{}.png", link.slug), png))
}
