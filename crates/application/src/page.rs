//! Keyset pagination: a bounded page size and an opaque cursor.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// How many items a page holds: 1–100, 50 unless the client says otherwise.
/// A larger request is refused, never silently served smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u16);

/// Why a page size is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between 1 and {max}", max = Limit::MAX)]
pub struct LimitError;

impl Limit {
    /// The largest page.
    pub const MAX: u16 = 100;
    /// The page size when the client names none.
    pub const DEFAULT: Self = Self(50);

    /// # Errors
    /// [`LimitError`] unless `1 <= value <= 100`.
    pub fn new(value: i64) -> Result<Self, LimitError> {
        u16::try_from(value)
            .ok()
            .filter(|v| (1..=Self::MAX).contains(v))
            .map(Self)
            .ok_or(LimitError)
    }

    /// The size.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the next page starts: after the item with this id. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Uuid);

/// Why a cursor is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor this service issued")]
pub struct CursorError;

const CURSOR_TAG: u8 = 1;

impl Cursor {
    /// The cursor that continues after `id`.
    #[must_use]
    pub const fn after(id: Uuid) -> Self {
        Self(id)
    }

    /// The id the next page starts after.
    #[must_use]
    pub const fn last_id(self) -> Uuid {
        self.0
    }

    /// The text clients send back.
    #[must_use]
    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(17);
        bytes.push(CURSOR_TAG);
        bytes.extend_from_slice(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// # Errors
    /// [`CursorError`] for anything [`encode`](Self::encode) did not produce.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        if text.len() > 64 {
            return Err(CursorError);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| CursorError)?;
        match bytes.split_first() {
            Some((&CURSOR_TAG, rest)) => Uuid::from_slice(rest).map(Self).map_err(|_| CursorError),
            _ => Err(CursorError),
        }
    }
}

/// Which page to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: Limit,
    /// Continue after this cursor; the first page when `None`.
    pub after: Option<Cursor>,
}

/// One page of results, and the cursor of the next one if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in id order.
    pub items: Vec<T>,
    /// Present when another page may follow.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows read in id order: the extra
    /// row only tells that a next page exists.
    #[must_use]
    pub fn from_overfetch(mut rows: Vec<T>, limit: Limit, id_of: impl Fn(&T) -> Uuid) -> Self {
        let limit = usize::from(limit.get());
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| Cursor::after(id_of(last)))
        } else {
            None
        };
        Self { items: rows, next }
    }

    /// Maps the items, keeping the cursor.
    #[must_use]
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_1_to_100_are_refused() {
        for bad in [0, -1, 101, 999_999, i64::MAX, i64::MIN] {
            assert_eq!(Limit::new(bad), Err(LimitError), "{bad}");
        }
        assert_eq!(Limit::new(1).map(Limit::get), Ok(1));
        assert_eq!(Limit::new(100).map(Limit::get), Ok(100));
        assert_eq!(Limit::default().get(), 50);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(
            Cursor::decode(&Cursor::after(id).encode()),
            Ok(Cursor::after(id))
        );
        for bad in ["", "x", "AAAA", &"A".repeat(100), "not base64!"] {
            assert_eq!(Cursor::decode(bad), Err(CursorError), "{bad}");
        }
    }

    #[test]
    fn an_overfetched_row_only_signals_a_next_page() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let limit = Limit::new(2).expect("valid");
        let page = Page::from_overfetch(ids.clone(), limit, |id| *id);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.next, Some(Cursor::after(ids[1])));
        let last = Page::from_overfetch(ids[..2].to_vec(), limit, |id| *id);
        assert_eq!(last.next, None);
    }
}
