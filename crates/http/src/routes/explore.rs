//! The graph explorer at `/explore`: one page and its files, compiled into
//! the binary. The page talks to the public API only; it has no route of
//! its own beyond these files.

use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::Problem;
use crate::extract::none_match;
use crate::{ApiError, AppState, ProblemCode};

use super::openapi::PROBLEM_JSON;

/// Everything from this host, nothing from anywhere else, and nothing
/// inline: the page has no inline script or style, and the graph library
/// is told its one rule is already in the stylesheet. No form is ever
/// submitted by the browser (the script handles each), so a page whose
/// script did not run cannot send a password in a URL.
const EXPLORE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

/// Where the page says whether logins may ask for a cookie session.
const COOKIE_META: &str = r#"<meta name="kg-cookie-auth" content="false">"#;

/// A file of the page as sent: its bytes, their gzip form, and the entity
/// tag of each (two representations, two strong tags).
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
    gzip_etag: String,
}

/// The files, as `(name, content type, bytes)`; the page is the first.
const FILES: [(&str, &str, &[u8]); 5] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../explorer/index.html"),
    ),
    (
        "explorer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/explorer.js"),
    ),
    (
        "explorer.css",
        "text/css; charset=utf-8",
        include_bytes!("../../explorer/explorer.css"),
    ),
    (
        "cytoscape.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../explorer/vendor/cytoscape.min.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../explorer/favicon.svg"),
    ),
];

/// The graph library's licence, served beside it.
const LICENCE: (&str, &str, &[u8]) = (
    "cytoscape.LICENSE.txt",
    "text/plain; charset=utf-8",
    include_bytes!("../../explorer/vendor/cytoscape.LICENSE.txt"),
);

/// FNV-1a: a tag that changes with the bytes, for revalidation only.
fn fingerprint(bytes: &[u8], suffix: &str) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}{suffix}\"")
}

fn prepare(name: &'static str, content_type: &'static str, bytes: Vec<u8>) -> Asset {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a vector cannot fail.
    let gzip = gz
        .write_all(&bytes)
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    Asset {
        name,
        content_type,
        etag: fingerprint(&bytes, ""),
        gzip_etag: fingerprint(&bytes, "-gzip"),
        bytes,
        gzip,
    }
}

/// The files, the page telling whether cookie sessions are on.
fn assets(cookie_auth: bool) -> &'static [Asset] {
    static WITH: OnceLock<Vec<Asset>> = OnceLock::new();
    static WITHOUT: OnceLock<Vec<Asset>> = OnceLock::new();
    (if cookie_auth { &WITH } else { &WITHOUT }).get_or_init(|| {
        FILES
            .iter()
            .chain([&LICENCE])
            .map(|&(name, content_type, bytes)| {
                let bytes = if name == "index.html" {
                    let page = String::from_utf8_lossy(bytes);
                    debug_assert!(page.contains(COOKIE_META));
                    page.replace(
                        COOKIE_META,
                        &COOKIE_META.replace("false", if cookie_auth { "true" } else { "false" }),
                    )
                    .into_bytes()
                } else {
                    bytes.to_vec()
                };
                prepare(name, content_type, bytes)
            })
            .collect()
    })
}

/// Whether `Accept-Encoding` takes gzip (RFC 9110 §12.5.3): its own entry
/// decides when there is one, `*` otherwise; `q=0` refuses.
fn takes_gzip(req: &HttpRequest) -> bool {
    let mut gzip = None;
    let mut any = None;
    for coding in req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let accepted = !parts.any(|p| {
            p.split_once('=').is_some_and(|(k, q)| {
                k.trim().eq_ignore_ascii_case("q")
                    && q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.unwrap_or(false) || accepted);
        } else if name == "*" {
            any = Some(any.unwrap_or(false) || accepted);
        }
    }
    gzip.or(any).unwrap_or(false)
}

fn send(req: &HttpRequest, asset: &'static Asset) -> HttpResponse {
    let gzip = takes_gzip(req);
    let etag = if gzip { &asset.gzip_etag } else { &asset.etag };
    let fresh = none_match(req, etag);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CONTENT_SECURITY_POLICY, EXPLORE_CSP))
        .insert_header((header::ETAG, etag.as_str()))
        // Revalidated on every load, which the tag makes a 304.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::VARY, "Accept-Encoding"));
    if fresh {
        return res.finish();
    }
    res.content_type(asset.content_type);
    if gzip {
        res.insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(web::Bytes::from_static(&asset.gzip))
    } else {
        res.body(web::Bytes::from_static(&asset.bytes))
    }
}

/// The explorer's page.
#[utoipa::path(
    get,
    path = "/explore",
    operation_id = "explorerPage",
    tag = "contract",
    security(()),
    responses(
        (status = 200, description = "The graph explorer, an HTML page that signs in and works through this API.", content_type = "text/html"),
        (status = 304, description = "Not modified: `If-None-Match` names the page's `ETag`."),
    ),
)]
pub(crate) async fn page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    send(&req, &assets(state.settings.cookie_auth)[0])
}

/// One of the explorer's files.
#[utoipa::path(
    get,
    path = "/explore/{file}",
    operation_id = "explorerFile",
    tag = "contract",
    security(()),
    params(("file" = String, Path, description = "A file of the page, such as `explorer.js`; `index.html` is the page itself.")),
    responses(
        (status = 200, description = "The file: JavaScript, CSS, an image or a licence."),
        (status = 304, description = "Not modified: `If-None-Match` names the file's `ETag`."),
        (status = 404, description = "`route_not_found`: no such file.", content_type = PROBLEM_JSON, body = Problem),
    ),
)]
pub(crate) async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    assets(state.settings.cookie_auth)
        .iter()
        .find(|a| a.name == file.as_str())
        .map(|a| send(&req, a))
        .ok_or_else(|| ApiError::new(ProblemCode::RouteNotFound, "No such file."))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn every_file_is_compressed_and_tagged_apart() {
        let files = assets(false);
        assert_eq!(files.len(), FILES.len() + 1);
        for a in files {
            assert!(
                !a.gzip.is_empty() && a.gzip.len() < a.bytes.len(),
                "{}",
                a.name
            );
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.gzip[..]), &mut out)
                .unwrap();
            assert_eq!(out, a.bytes, "{}", a.name);
        }
        let tags: std::collections::BTreeSet<_> =
            files.iter().flat_map(|a| [&a.etag, &a.gzip_etag]).collect();
        assert_eq!(tags.len(), 2 * files.len());
    }

    #[test]
    fn the_page_says_whether_cookie_sessions_are_on() {
        let page = |on| String::from_utf8(assets(on)[0].bytes.clone()).unwrap();
        assert!(page(false).contains(r#"name="kg-cookie-auth" content="false""#));
        assert!(page(true).contains(r#"name="kg-cookie-auth" content="true""#));
        assert_ne!(assets(true)[0].etag, assets(false)[0].etag);
    }

    #[test]
    fn gzip_is_sent_only_when_taken() {
        for (header, takes) in [
            ("gzip", true),
            ("br, gzip;q=0.5", true),
            ("GZIP", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0", false),
            ("gzip;Q=0", false),
            ("gzip;q=0, *", false),
            ("*;q=0", false),
            ("br, *;q=0.1", true),
            ("x-gzip", true),
            ("br", false),
            ("identity", false),
        ] {
            let req = TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, header))
                .to_http_request();
            assert_eq!(takes_gzip(&req), takes, "{header}");
        }
        assert!(!takes_gzip(&TestRequest::default().to_http_request()));
    }
}
