//! Mapping SDK errors to provider-neutral [`ProvisionError`]s.
//!
//! EC2 reports what went wrong as an error code (`InvalidVpcID.NotFound`,
//! `DependencyViolation`, `RequestLimitExceeded`, …); [`classify_code`] maps a code to an
//! [`ErrorKind`]. Errors that never reached the service (connection refused, timeouts) are
//! [`ErrorKind::Transient`]. The SDK type never leaves this crate: only the kind, the message
//! and the code are kept.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use hoist_provider::{ErrorKind, ProvisionError};

/// The [`ErrorKind`] of an EC2 error code.
///
/// ```
/// use hoist_aws::classify_code;
/// use hoist_provider::ErrorKind;
/// assert_eq!(classify_code("InvalidVpcID.NotFound"), ErrorKind::NotFound);
/// assert_eq!(classify_code("InvalidAMIID.NotFound"), ErrorKind::InvalidSpec);
/// assert_eq!(classify_code("InvalidGroup.Duplicate"), ErrorKind::AlreadyExists);
/// assert_eq!(classify_code("DependencyViolation"), ErrorKind::DependencyViolation);
/// assert_eq!(classify_code("RequestLimitExceeded"), ErrorKind::Throttled);
/// assert_eq!(classify_code("VpcLimitExceeded"), ErrorKind::QuotaExceeded);
/// assert_eq!(classify_code("AuthFailure"), ErrorKind::Unauthorized);
/// assert_eq!(classify_code("InvalidParameterValue"), ErrorKind::InvalidSpec);
/// assert_eq!(classify_code("InternalError"), ErrorKind::Transient);
/// ```
pub fn classify_code(code: &str) -> ErrorKind {
    match code {
        // An unknown image, instance type or key is a mistake in the spec, not a missing object.
        c if c.starts_with("InvalidAMIID.")
            || c.starts_with("InvalidKeyPair.Format")
            || c == "InvalidInstanceType"
            || c.starts_with("InvalidUserData.")
            || c.starts_with("InvalidSubnet.Range")
            || c.starts_with("InvalidSubnet.Conflict")
            || c.starts_with("InvalidVpc.Range") =>
        {
            ErrorKind::InvalidSpec
        }
        c if c.ends_with(".NotFound") || c.ends_with("NotFound") || c.ends_with(".Malformed") => {
            if c.ends_with(".Malformed") {
                ErrorKind::InvalidSpec
            } else {
                ErrorKind::NotFound
            }
        }
        c if c.ends_with(".Duplicate")
            || c == "RouteAlreadyExists"
            || c == "Resource.AlreadyAssociated"
            || c.ends_with("AlreadyExists")
            || c == "IdempotentParameterMismatch" =>
        {
            ErrorKind::AlreadyExists
        }
        "DependencyViolation" | "InvalidIPAddress.InUse" | "InvalidNetworkInterface.InUse" => {
            ErrorKind::DependencyViolation
        }
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "SlowDown" => ErrorKind::Throttled,
        c if c.ends_with("LimitExceeded")
            || c == "InsufficientInstanceCapacity"
            || c == "InsufficientAddressCapacity"
            || c == "InsufficientFreeAddressesInSubnet"
            || c == "MaxIOPSLimitExceeded" =>
        {
            ErrorKind::QuotaExceeded
        }
        "AuthFailure"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "OptInRequired"
        | "Blocked"
        | "ExpiredToken"
        | "AccessDenied"
        | "AccessDeniedException"
        | "MissingAuthenticationToken"
        | "PendingVerification" => ErrorKind::Unauthorized,
        c if c.starts_with("InvalidParameter")
            || c.starts_with("MissingParameter")
            || c.starts_with("Unsupported")
            || c == "InvalidInput"
            || c == "ValidationError"
            || c == "InvalidRequest" =>
        {
            ErrorKind::InvalidSpec
        }
        "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "IncorrectState"
        | "IncorrectInstanceState"
        | "RequestTimeout"
        | "RequestTimeoutException" => ErrorKind::Transient,
        _ => ErrorKind::Other,
    }
}

/// Converts an SDK error of the call `op` into a [`ProvisionError`].
pub(crate) fn from_sdk<E>(op: &str, err: SdkError<E, HttpResponse>) -> ProvisionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let msg = e.message().unwrap_or("no message").to_string();
            let kind = classify_code(&code);
            let kind = if kind == ErrorKind::Other && se.raw().status().is_server_error() {
                // An unknown code on a 5xx response is a server-side failure.
                ErrorKind::Transient
            } else {
                kind
            };
            ProvisionError::new(kind, format!("{op}: {msg}")).with_code(code)
        }
        SdkError::TimeoutError(_) => {
            ProvisionError::new(ErrorKind::Transient, format!("{op}: timed out"))
                .with_code("Timeout")
        }
        SdkError::DispatchFailure(d) => {
            let why = d
                .as_connector_error()
                .map_or_else(|| "dispatch failure".to_string(), ToString::to_string);
            ProvisionError::new(ErrorKind::Transient, format!("{op}: {why}"))
                .with_code("DispatchFailure")
        }
        SdkError::ResponseError(_) => ProvisionError::new(
            ErrorKind::Transient,
            format!("{op}: unreadable response: {}", source_chain(&err)),
        )
        .with_code("ResponseError"),
        SdkError::ConstructionFailure(_) => ProvisionError::new(
            ErrorKind::InvalidSpec,
            format!("{op}: cannot build the request: {}", source_chain(&err)),
        )
        .with_code("ConstructionFailure"),
        _ => ProvisionError::new(ErrorKind::Other, format!("{op}: {}", source_chain(&err))),
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
