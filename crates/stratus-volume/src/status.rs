//! Cinder's volume statuses and the transitions between them. Every change of a volume's
//! status goes through [`Status::can_become`], so an attach cannot start on a volume being
//! deleted and a crash in the middle is visible as a status that says so.

/// A volume's status, as Cinder names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Available,
    Reserved,
    Attaching,
    InUse,
    Detaching,
    Extending,
    Deleting,
    Error,
    ErrorDeleting,
    ErrorExtending,
}

/// Why a volume's status changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Created,
    CreateFailed,
    Reserve,
    Unreserve,
    AttachStart,
    AttachComplete,
    DetachStart,
    Detached,
    ExtendStart,
    Extended,
    ExtendFailed,
    DeleteStart,
    DeleteFailed,
    /// `os-reset_status` by an administrator: any status may become any other.
    Reset(Status),
}

impl Status {
    pub const ALL: [Status; 11] = [
        Status::Creating,
        Status::Available,
        Status::Reserved,
        Status::Attaching,
        Status::InUse,
        Status::Detaching,
        Status::Extending,
        Status::Deleting,
        Status::Error,
        Status::ErrorDeleting,
        Status::ErrorExtending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Available => "available",
            Status::Reserved => "reserved",
            Status::Attaching => "attaching",
            Status::InUse => "in-use",
            Status::Detaching => "detaching",
            Status::Extending => "extending",
            Status::Deleting => "deleting",
            Status::Error => "error",
            Status::ErrorDeleting => "error_deleting",
            Status::ErrorExtending => "error_extending",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The status after `t`, or None when `t` is not allowed from `self`. A multi-attach
    /// volume already in use may take another reservation and stays in-use.
    pub fn can_become(self, t: Transition, multiattach: bool) -> Option<Status> {
        use Status::*;
        use Transition as T;
        Some(match (self, t) {
            (_, T::Reset(to)) => to,
            (Creating, T::Created) => Available,
            (Creating, T::CreateFailed) => Error,
            (Available, T::Reserve) => Reserved,
            (InUse, T::Reserve) if multiattach => InUse,
            (Reserved, T::Unreserve) => Available,
            (Reserved | Available, T::AttachStart) => Attaching,
            (InUse, T::AttachStart) if multiattach => InUse,
            (Attaching | InUse, T::AttachComplete) => InUse,
            (InUse | Attaching | Reserved, T::DetachStart) => Detaching,
            (Detaching, T::Detached) => Available,
            (Available, T::ExtendStart) => Extending,
            (Extending, T::Extended) => Available,
            (Extending, T::ExtendFailed) => ErrorExtending,
            (Available | Error | ErrorDeleting | ErrorExtending, T::DeleteStart) => Deleting,
            (Deleting, T::DeleteFailed) => ErrorDeleting,
            _ => return None,
        })
    }

    /// Statuses a crash may leave a volume in with work half-done; at start they become
    /// the matching error status, never stay as they are.
    pub fn after_crash(self) -> Option<Status> {
        match self {
            Status::Creating => Some(Status::Error),
            Status::Extending => Some(Status::ErrorExtending),
            Status::Deleting => Some(Status::ErrorDeleting),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attach_cycle_and_what_it_refuses() {
        let s = Status::Creating
            .can_become(Transition::Created, false)
            .expect("created");
        let s = s.can_become(Transition::Reserve, false).expect("reserve");
        assert_eq!(s, Status::Reserved);
        let s = s.can_become(Transition::AttachStart, false).expect("attach");
        let s = s.can_become(Transition::AttachComplete, false).expect("complete");
        assert_eq!(s, Status::InUse);
        assert_eq!(
            s.can_become(Transition::Reserve, false),
            None,
            "in use and not multiattach"
        );
        assert_eq!(s.can_become(Transition::Reserve, true), Some(Status::InUse));
        assert_eq!(
            s.can_become(Transition::DeleteStart, false),
            None,
            "deleting an in-use volume"
        );
        assert_eq!(s.can_become(Transition::ExtendStart, false), None);
        let s = s.can_become(Transition::DetachStart, false).expect("detach");
        assert_eq!(s.can_become(Transition::Detached, false), Some(Status::Available));
        assert_eq!(
            Status::InUse.can_become(Transition::Reset(Status::Available), false),
            Some(Status::Available)
        );
    }

    #[test]
    fn crashes_leave_error_statuses() {
        assert_eq!(Status::Creating.after_crash(), Some(Status::Error));
        assert_eq!(Status::Extending.after_crash(), Some(Status::ErrorExtending));
        assert_eq!(Status::Available.after_crash(), None);
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
