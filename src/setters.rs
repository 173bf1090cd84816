//! Builder methods that only store their argument, one line apiece.

/// Writes, inside an `impl` block, one builder method per entry:
/// `pub fn with_x(arg: Type) => field.path = value;` becomes
/// `pub fn with_x(mut self, arg: Type) -> Self { self.field.path = value; self }`,
/// documented by the entry's doc comments.
macro_rules! setters {
    ($(
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;
    )*) => {
        $(
            $(#[$attr])*
            $vis fn $name(mut self, $arg: $ty) -> Self {
                self.$($field).+ = $value;
                self
            }
        )*
    };
}

pub(crate) use setters;
