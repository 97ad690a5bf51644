//! Dependency injection: values handed to jobs as `State<T>` parameters.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A shared value injected into a job, registered with [`crate::SchedulerBuilder::state`].
///
/// A `#[scheduled]` fn asks for it by type; a missing state is a startup error
/// that names the job and the type.
///
/// ```
/// use cronlock::State;
///
/// struct Db { url: String }
///
/// let db = State::new(Db { url: "postgres://localhost".into() });
/// assert_eq!(db.url, "postgres://localhost");
/// ```
pub struct State<T: ?Sized>(Arc<T>);

impl<T> State<T> {
    /// Wraps a value.
    pub fn new(value: T) -> State<T> {
        State(Arc::new(value))
    }
}

impl<T: ?Sized> State<T> {
    /// The shared pointer behind the state.
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> From<Arc<T>> for State<T> {
    fn from(value: Arc<T>) -> Self {
        State(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// A state type a job needs: its id and its name for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRequirement {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl StateRequirement {
    /// The requirement for `T`.
    pub fn of<T: 'static>() -> StateRequirement {
        StateRequirement {
            id: TypeId::of::<T>(),
            name: type_name::<T>(),
        }
    }

    /// The Rust name of the type.
    pub fn type_name(&self) -> &'static str {
        self.name
    }
}

/// The states registered with the scheduler, by type.
#[derive(Default, Clone)]
pub struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.values.insert(TypeId::of::<T>(), value);
    }

    /// The state of type `T`, if one was registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        let value = self.values.get(&TypeId::of::<T>())?;
        Arc::clone(value).downcast::<T>().ok().map(State)
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("len", &self.values.len())
            .finish()
    }
}
