from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SYSTEM: _ClassVar[Role]
    ROLE_USER: _ClassVar[Role]
    ROLE_ASSISTANT: _ClassVar[Role]
    ROLE_DEVELOPER: _ClassVar[Role]
    ROLE_TOOL: _ClassVar[Role]

class ImageDetail(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_DETAIL_UNSPECIFIED: _ClassVar[ImageDetail]
    IMAGE_DETAIL_AUTO: _ClassVar[ImageDetail]
    IMAGE_DETAIL_LOW: _ClassVar[ImageDetail]
    IMAGE_DETAIL_HIGH: _ClassVar[ImageDetail]

class ToolChoiceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_CHOICE_MODE_UNSPECIFIED: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_AUTO: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_NONE: _ClassVar[ToolChoiceMode]
    TOOL_CHOICE_MODE_REQUIRED: _ClassVar[ToolChoiceMode]

class ResponseFormatKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESPONSE_FORMAT_KIND_UNSPECIFIED: _ClassVar[ResponseFormatKind]
    RESPONSE_FORMAT_KIND_TEXT: _ClassVar[ResponseFormatKind]
    RESPONSE_FORMAT_KIND_JSON_OBJECT: _ClassVar[ResponseFormatKind]
    RESPONSE_FORMAT_KIND_JSON_SCHEMA: _ClassVar[ResponseFormatKind]

class ReasoningEffort(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASONING_EFFORT_UNSPECIFIED: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_MINIMAL: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_LOW: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_MEDIUM: _ClassVar[ReasoningEffort]
    REASONING_EFFORT_HIGH: _ClassVar[ReasoningEffort]

class ErrorClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CLASS_UNSPECIFIED: _ClassVar[ErrorClass]
    ERROR_CLASS_NONE: _ClassVar[ErrorClass]
    ERROR_CLASS_AUTH: _ClassVar[ErrorClass]
    ERROR_CLASS_AUTH_TERMINAL: _ClassVar[ErrorClass]
    ERROR_CLASS_FORBIDDEN: _ClassVar[ErrorClass]
    ERROR_CLASS_BILLING: _ClassVar[ErrorClass]
    ERROR_CLASS_RATE_LIMIT: _ClassVar[ErrorClass]
    ERROR_CLASS_OVERLOADED: _ClassVar[ErrorClass]
    ERROR_CLASS_SERVER: _ClassVar[ErrorClass]
    ERROR_CLASS_TRANSPORT: _ClassVar[ErrorClass]
    ERROR_CLASS_CONTEXT_OVERFLOW: _ClassVar[ErrorClass]
    ERROR_CLASS_MODEL_UNAVAILABLE: _ClassVar[ErrorClass]
    ERROR_CLASS_CONTENT_POLICY: _ClassVar[ErrorClass]
    ERROR_CLASS_INVALID_REQUEST: _ClassVar[ErrorClass]
    ERROR_CLASS_UNKNOWN: _ClassVar[ErrorClass]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_SUCCEED: _ClassVar[Action]
    ACTION_RETRY_SAME: _ClassVar[Action]
    ACTION_REFRESH_AND_RETRY: _ClassVar[Action]
    ACTION_ROTATE_CREDENTIAL: _ClassVar[Action]
    ACTION_NEXT_CANDIDATE: _ClassVar[Action]
    ACTION_RETURN_TO_CALLER: _ClassVar[Action]
    ACTION_GIVE_UP: _ClassVar[Action]
    ACTION_SKIP_CANDIDATE: _ClassVar[Action]
    ACTION_STOP_STREAM: _ClassVar[Action]

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    ERROR_REASON_ALL_CANDIDATES_FAILED: _ClassVar[ErrorReason]
    ERROR_REASON_CONTEXT_OVERFLOW: _ClassVar[ErrorReason]
    ERROR_REASON_CONTENT_POLICY: _ClassVar[ErrorReason]
    ERROR_REASON_DEADLINE_EXHAUSTED: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_TASK: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_ARGUMENT: _ClassVar[ErrorReason]
    ERROR_REASON_REQUEST_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_INTERNAL: _ClassVar[ErrorReason]
    ERROR_REASON_UNAUTHENTICATED: _ClassVar[ErrorReason]
    ERROR_REASON_PERMISSION_DENIED: _ClassVar[ErrorReason]
    ERROR_REASON_CREDENTIAL_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_NOT_REFRESHABLE: _ClassVar[ErrorReason]
    ERROR_REASON_REFRESH_FAILED: _ClassVar[ErrorReason]
    ERROR_REASON_STREAM_INTERRUPTED: _ClassVar[ErrorReason]

class TransportFailure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_FAILURE_UNSPECIFIED: _ClassVar[TransportFailure]
    TRANSPORT_FAILURE_CONNECTION_REFUSED: _ClassVar[TransportFailure]
    TRANSPORT_FAILURE_CONNECTION_RESET: _ClassVar[TransportFailure]
    TRANSPORT_FAILURE_TIMEOUT: _ClassVar[TransportFailure]
    TRANSPORT_FAILURE_DNS: _ClassVar[TransportFailure]
    TRANSPORT_FAILURE_TLS: _ClassVar[TransportFailure]

class RefreshResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFRESH_RESULT_UNSPECIFIED: _ClassVar[RefreshResult]
    REFRESH_RESULT_SUCCEEDED: _ClassVar[RefreshResult]
    REFRESH_RESULT_REFUSED: _ClassVar[RefreshResult]
    REFRESH_RESULT_FAILED_TRANSIENTLY: _ClassVar[RefreshResult]

class CredentialBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_BASIS_UNSPECIFIED: _ClassVar[CredentialBasis]
    CREDENTIAL_BASIS_CURRENT_STATE: _ClassVar[CredentialBasis]
    CREDENTIAL_BASIS_ALL_HEALTHY: _ClassVar[CredentialBasis]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OUTCOME_SUCCEEDED: _ClassVar[Outcome]
    OUTCOME_FAILED: _ClassVar[Outcome]

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_KIND_UNSPECIFIED: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_API_KEY: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_OAUTH: _ClassVar[CredentialKind]

class CredentialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_STATE_UNSPECIFIED: _ClassVar[CredentialState]
    CREDENTIAL_STATE_LIVE: _ClassVar[CredentialState]
    CREDENTIAL_STATE_COOLING: _ClassVar[CredentialState]
    CREDENTIAL_STATE_DEAD: _ClassVar[CredentialState]
ROLE_UNSPECIFIED: Role
ROLE_SYSTEM: Role
ROLE_USER: Role
ROLE_ASSISTANT: Role
ROLE_DEVELOPER: Role
ROLE_TOOL: Role
IMAGE_DETAIL_UNSPECIFIED: ImageDetail
IMAGE_DETAIL_AUTO: ImageDetail
IMAGE_DETAIL_LOW: ImageDetail
IMAGE_DETAIL_HIGH: ImageDetail
TOOL_CHOICE_MODE_UNSPECIFIED: ToolChoiceMode
TOOL_CHOICE_MODE_AUTO: ToolChoiceMode
TOOL_CHOICE_MODE_NONE: ToolChoiceMode
TOOL_CHOICE_MODE_REQUIRED: ToolChoiceMode
RESPONSE_FORMAT_KIND_UNSPECIFIED: ResponseFormatKind
RESPONSE_FORMAT_KIND_TEXT: ResponseFormatKind
RESPONSE_FORMAT_KIND_JSON_OBJECT: ResponseFormatKind
RESPONSE_FORMAT_KIND_JSON_SCHEMA: ResponseFormatKind
REASONING_EFFORT_UNSPECIFIED: ReasoningEffort
REASONING_EFFORT_MINIMAL: ReasoningEffort
REASONING_EFFORT_LOW: ReasoningEffort
REASONING_EFFORT_MEDIUM: ReasoningEffort
REASONING_EFFORT_HIGH: ReasoningEffort
ERROR_CLASS_UNSPECIFIED: ErrorClass
ERROR_CLASS_NONE: ErrorClass
ERROR_CLASS_AUTH: ErrorClass
ERROR_CLASS_AUTH_TERMINAL: ErrorClass
ERROR_CLASS_FORBIDDEN: ErrorClass
ERROR_CLASS_BILLING: ErrorClass
ERROR_CLASS_RATE_LIMIT: ErrorClass
ERROR_CLASS_OVERLOADED: ErrorClass
ERROR_CLASS_SERVER: ErrorClass
ERROR_CLASS_TRANSPORT: ErrorClass
ERROR_CLASS_CONTEXT_OVERFLOW: ErrorClass
ERROR_CLASS_MODEL_UNAVAILABLE: ErrorClass
ERROR_CLASS_CONTENT_POLICY: ErrorClass
ERROR_CLASS_INVALID_REQUEST: ErrorClass
ERROR_CLASS_UNKNOWN: ErrorClass
ACTION_UNSPECIFIED: Action
ACTION_SUCCEED: Action
ACTION_RETRY_SAME: Action
ACTION_REFRESH_AND_RETRY: Action
ACTION_ROTATE_CREDENTIAL: Action
ACTION_NEXT_CANDIDATE: Action
ACTION_RETURN_TO_CALLER: Action
ACTION_GIVE_UP: Action
ACTION_SKIP_CANDIDATE: Action
ACTION_STOP_STREAM: Action
ERROR_REASON_UNSPECIFIED: ErrorReason
ERROR_REASON_ALL_CANDIDATES_FAILED: ErrorReason
ERROR_REASON_CONTEXT_OVERFLOW: ErrorReason
ERROR_REASON_CONTENT_POLICY: ErrorReason
ERROR_REASON_DEADLINE_EXHAUSTED: ErrorReason
ERROR_REASON_UNKNOWN_TASK: ErrorReason
ERROR_REASON_INVALID_ARGUMENT: ErrorReason
ERROR_REASON_REQUEST_NOT_FOUND: ErrorReason
ERROR_REASON_INTERNAL: ErrorReason
ERROR_REASON_UNAUTHENTICATED: ErrorReason
ERROR_REASON_PERMISSION_DENIED: ErrorReason
ERROR_REASON_CREDENTIAL_NOT_FOUND: ErrorReason
ERROR_REASON_NOT_REFRESHABLE: ErrorReason
ERROR_REASON_REFRESH_FAILED: ErrorReason
ERROR_REASON_STREAM_INTERRUPTED: ErrorReason
TRANSPORT_FAILURE_UNSPECIFIED: TransportFailure
TRANSPORT_FAILURE_CONNECTION_REFUSED: TransportFailure
TRANSPORT_FAILURE_CONNECTION_RESET: TransportFailure
TRANSPORT_FAILURE_TIMEOUT: TransportFailure
TRANSPORT_FAILURE_DNS: TransportFailure
TRANSPORT_FAILURE_TLS: TransportFailure
REFRESH_RESULT_UNSPECIFIED: RefreshResult
REFRESH_RESULT_SUCCEEDED: RefreshResult
REFRESH_RESULT_REFUSED: RefreshResult
REFRESH_RESULT_FAILED_TRANSIENTLY: RefreshResult
CREDENTIAL_BASIS_UNSPECIFIED: CredentialBasis
CREDENTIAL_BASIS_CURRENT_STATE: CredentialBasis
CREDENTIAL_BASIS_ALL_HEALTHY: CredentialBasis
OUTCOME_UNSPECIFIED: Outcome
OUTCOME_SUCCEEDED: Outcome
OUTCOME_FAILED: Outcome
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
CREDENTIAL_KIND_API_KEY: CredentialKind
CREDENTIAL_KIND_OAUTH: CredentialKind
CREDENTIAL_STATE_UNSPECIFIED: CredentialState
CREDENTIAL_STATE_LIVE: CredentialState
CREDENTIAL_STATE_COOLING: CredentialState
CREDENTIAL_STATE_DEAD: CredentialState

class Message(_message.Message):
    __slots__ = ("role", "content", "parts", "tool_calls", "tool_call_id")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    role: Role
    content: str
    parts: _containers.RepeatedCompositeFieldContainer[ContentPart]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    tool_call_id: str
    def __init__(self, role: _Optional[_Union[Role, str]] = ..., content: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[ContentPart, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., tool_call_id: _Optional[str] = ...) -> None: ...

class ContentPart(_message.Message):
    __slots__ = ("text", "image")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: Image
    def __init__(self, text: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("url", "data", "detail")
    URL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    url: str
    data: ImageData
    detail: ImageDetail
    def __init__(self, url: _Optional[str] = ..., data: _Optional[_Union[ImageData, _Mapping]] = ..., detail: _Optional[_Union[ImageDetail, str]] = ...) -> None: ...

class ImageData(_message.Message):
    __slots__ = ("media_type", "data")
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    media_type: str
    data: bytes
    def __init__(self, media_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "name", "arguments")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    arguments: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ...) -> None: ...

class ToolCallDelta(_message.Message):
    __slots__ = ("index", "id", "name", "arguments")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    name: str
    arguments: str
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ...) -> None: ...

class Tool(_message.Message):
    __slots__ = ("name", "description", "parameters", "strict")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    STRICT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    parameters: str
    strict: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., parameters: _Optional[str] = ..., strict: _Optional[bool] = ...) -> None: ...

class ToolChoice(_message.Message):
    __slots__ = ("mode", "function")
    MODE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    mode: ToolChoiceMode
    function: str
    def __init__(self, mode: _Optional[_Union[ToolChoiceMode, str]] = ..., function: _Optional[str] = ...) -> None: ...

class ResponseFormat(_message.Message):
    __slots__ = ("kind", "json_schema")
    KIND_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    kind: ResponseFormatKind
    json_schema: JsonSchemaFormat
    def __init__(self, kind: _Optional[_Union[ResponseFormatKind, str]] = ..., json_schema: _Optional[_Union[JsonSchemaFormat, _Mapping]] = ...) -> None: ...

class JsonSchemaFormat(_message.Message):
    __slots__ = ("name", "description", "schema", "strict")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    STRICT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    schema: str
    strict: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., schema: _Optional[str] = ..., strict: _Optional[bool] = ...) -> None: ...

class ChatOptions(_message.Message):
    __slots__ = ("tools", "tool_choice", "parallel_tool_calls", "response_format", "stop", "top_p", "seed", "reasoning_effort", "metadata", "user")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CHOICE_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REASONING_EFFORT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    tool_choice: ToolChoice
    parallel_tool_calls: bool
    response_format: ResponseFormat
    stop: _containers.RepeatedScalarFieldContainer[str]
    top_p: float
    seed: int
    reasoning_effort: ReasoningEffort
    metadata: _containers.ScalarMap[str, str]
    user: str
    def __init__(self, tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ..., tool_choice: _Optional[_Union[ToolChoice, _Mapping]] = ..., parallel_tool_calls: _Optional[bool] = ..., response_format: _Optional[_Union[ResponseFormat, _Mapping]] = ..., stop: _Optional[_Iterable[str]] = ..., top_p: _Optional[float] = ..., seed: _Optional[int] = ..., reasoning_effort: _Optional[_Union[ReasoningEffort, str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., user: _Optional[str] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("messages", "model", "max_tokens", "temperature", "options")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    model: str
    max_tokens: int
    temperature: float
    options: ChatOptions
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., model: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., options: _Optional[_Union[ChatOptions, _Mapping]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("request_id", "content", "usage", "served_by", "attempts", "tool_calls", "finish_reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    content: str
    usage: Usage
    served_by: ServedBy
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    finish_reason: str
    def __init__(self, request_id: _Optional[str] = ..., content: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., served_by: _Optional[_Union[ServedBy, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class AuxCompleteRequest(_message.Message):
    __slots__ = ("task", "messages", "model", "max_tokens", "temperature", "options")
    TASK_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    task: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    model: str
    max_tokens: int
    temperature: float
    options: ChatOptions
    def __init__(self, task: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., model: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., options: _Optional[_Union[ChatOptions, _Mapping]] = ...) -> None: ...

class AuxCompleteResponse(_message.Message):
    __slots__ = ("request_id", "content", "usage", "served_by", "attempts", "tool_calls", "finish_reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    content: str
    usage: Usage
    served_by: ServedBy
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    finish_reason: str
    def __init__(self, request_id: _Optional[str] = ..., content: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., served_by: _Optional[_Union[ServedBy, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class CompleteStreamRequest(_message.Message):
    __slots__ = ("messages", "model", "max_tokens", "temperature", "options")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    model: str
    max_tokens: int
    temperature: float
    options: ChatOptions
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., model: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., options: _Optional[_Union[ChatOptions, _Mapping]] = ...) -> None: ...

class CompleteStreamResponse(_message.Message):
    __slots__ = ("started", "delta", "finished", "tool_call_delta")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_DELTA_FIELD_NUMBER: _ClassVar[int]
    started: StreamStarted
    delta: str
    finished: StreamFinished
    tool_call_delta: ToolCallDelta
    def __init__(self, started: _Optional[_Union[StreamStarted, _Mapping]] = ..., delta: _Optional[str] = ..., finished: _Optional[_Union[StreamFinished, _Mapping]] = ..., tool_call_delta: _Optional[_Union[ToolCallDelta, _Mapping]] = ...) -> None: ...

class AuxCompleteStreamRequest(_message.Message):
    __slots__ = ("task", "messages", "model", "max_tokens", "temperature", "options")
    TASK_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    task: str
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    model: str
    max_tokens: int
    temperature: float
    options: ChatOptions
    def __init__(self, task: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., model: _Optional[str] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., options: _Optional[_Union[ChatOptions, _Mapping]] = ...) -> None: ...

class AuxCompleteStreamResponse(_message.Message):
    __slots__ = ("started", "delta", "finished", "tool_call_delta")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_DELTA_FIELD_NUMBER: _ClassVar[int]
    started: StreamStarted
    delta: str
    finished: StreamFinished
    tool_call_delta: ToolCallDelta
    def __init__(self, started: _Optional[_Union[StreamStarted, _Mapping]] = ..., delta: _Optional[str] = ..., finished: _Optional[_Union[StreamFinished, _Mapping]] = ..., tool_call_delta: _Optional[_Union[ToolCallDelta, _Mapping]] = ...) -> None: ...

class StreamStarted(_message.Message):
    __slots__ = ("request_id", "served_by", "attempts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    served_by: ServedBy
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    def __init__(self, request_id: _Optional[str] = ..., served_by: _Optional[_Union[ServedBy, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ...) -> None: ...

class StreamFinished(_message.Message):
    __slots__ = ("usage", "finish_reason", "attempts", "tool_calls")
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    usage: Usage
    finish_reason: str
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    def __init__(self, usage: _Optional[_Union[Usage, _Mapping]] = ..., finish_reason: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    def __init__(self, input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cached_input_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ...) -> None: ...

class ServedBy(_message.Message):
    __slots__ = ("provider", "model", "credential_id")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    credential_id: str
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., credential_id: _Optional[str] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("candidate_index", "provider", "model", "credential_id", "error_class", "http_status", "action", "reason", "duration_ms")
    CANDIDATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    candidate_index: int
    provider: str
    model: str
    credential_id: str
    error_class: ErrorClass
    http_status: int
    action: Action
    reason: str
    duration_ms: int
    def __init__(self, candidate_index: _Optional[int] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., credential_id: _Optional[str] = ..., error_class: _Optional[_Union[ErrorClass, str]] = ..., http_status: _Optional[int] = ..., action: _Optional[_Union[Action, str]] = ..., reason: _Optional[str] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class FailureDetail(_message.Message):
    __slots__ = ("request_id", "attempts")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    def __init__(self, request_id: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ...) -> None: ...

class PrimaryCaller(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Caller(_message.Message):
    __slots__ = ("primary", "task")
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    primary: PrimaryCaller
    task: str
    def __init__(self, primary: _Optional[_Union[PrimaryCaller, _Mapping]] = ..., task: _Optional[str] = ...) -> None: ...

class HttpOutcome(_message.Message):
    __slots__ = ("status", "body", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    status: int
    body: str
    headers: _containers.ScalarMap[str, str]
    def __init__(self, status: _Optional[int] = ..., body: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SimulatedOutcome(_message.Message):
    __slots__ = ("http", "transport", "refresh", "duration_ms")
    HTTP_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    http: HttpOutcome
    transport: TransportFailure
    refresh: SimulatedRefresh
    duration_ms: int
    def __init__(self, http: _Optional[_Union[HttpOutcome, _Mapping]] = ..., transport: _Optional[_Union[TransportFailure, str]] = ..., refresh: _Optional[_Union[SimulatedRefresh, _Mapping]] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class SimulatedRefresh(_message.Message):
    __slots__ = ("result", "reason")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    result: RefreshResult
    reason: str
    def __init__(self, result: _Optional[_Union[RefreshResult, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SimulatedCredential(_message.Message):
    __slots__ = ("credential_id", "expires_in_s")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    expires_in_s: int
    def __init__(self, credential_id: _Optional[str] = ..., expires_in_s: _Optional[int] = ...) -> None: ...

class Simulation(_message.Message):
    __slots__ = ("caller", "outcomes", "budget_ms", "assume_all_credentials_live", "model", "credentials")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    ASSUME_ALL_CREDENTIALS_LIVE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    outcomes: _containers.RepeatedCompositeFieldContainer[SimulatedOutcome]
    budget_ms: int
    assume_all_credentials_live: bool
    model: str
    credentials: _containers.RepeatedCompositeFieldContainer[SimulatedCredential]
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ..., outcomes: _Optional[_Iterable[_Union[SimulatedOutcome, _Mapping]]] = ..., budget_ms: _Optional[int] = ..., assume_all_credentials_live: _Optional[bool] = ..., model: _Optional[str] = ..., credentials: _Optional[_Iterable[_Union[SimulatedCredential, _Mapping]]] = ...) -> None: ...

class ExplainFallbackRequest(_message.Message):
    __slots__ = ("request_id", "simulation")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    simulation: Simulation
    def __init__(self, request_id: _Optional[str] = ..., simulation: _Optional[_Union[Simulation, _Mapping]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("provider", "model", "origin")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    origin: str
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class ExplainFallbackResponse(_message.Message):
    __slots__ = ("request_id", "caller", "simulated", "candidates", "steps", "outcome", "error_reason", "credential_basis", "note")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    caller: Caller
    simulated: bool
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    steps: _containers.RepeatedCompositeFieldContainer[Attempt]
    outcome: Outcome
    error_reason: ErrorReason
    credential_basis: CredentialBasis
    note: str
    def __init__(self, request_id: _Optional[str] = ..., caller: _Optional[_Union[Caller, _Mapping]] = ..., simulated: _Optional[bool] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., steps: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., error_reason: _Optional[_Union[ErrorReason, str]] = ..., credential_basis: _Optional[_Union[CredentialBasis, str]] = ..., note: _Optional[str] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class OAuthTokens(_message.Message):
    __slots__ = ("access_token", "refresh_token", "expires_at_unix_ms", "token_url", "client_id", "client_secret", "scope")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_URL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    expires_at_unix_ms: int
    token_url: str
    client_id: str
    client_secret: str
    scope: str
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_at_unix_ms: _Optional[int] = ..., token_url: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., scope: _Optional[str] = ...) -> None: ...

class PutCredentialRequest(_message.Message):
    __slots__ = ("id", "provider", "label", "priority", "api_key", "oauth")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    OAUTH_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    label: str
    priority: int
    api_key: ApiKey
    oauth: OAuthTokens
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., label: _Optional[str] = ..., priority: _Optional[int] = ..., api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., oauth: _Optional[_Union[OAuthTokens, _Mapping]] = ...) -> None: ...

class PutCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: CredentialInfo
    def __init__(self, credential: _Optional[_Union[CredentialInfo, _Mapping]] = ...) -> None: ...

class ListCredentialsRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class ListCredentialsResponse(_message.Message):
    __slots__ = ("credentials",)
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    credentials: _containers.RepeatedCompositeFieldContainer[CredentialInfo]
    def __init__(self, credentials: _Optional[_Iterable[_Union[CredentialInfo, _Mapping]]] = ...) -> None: ...

class DeleteCredentialRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteCredentialResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshCredentialRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RefreshCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: CredentialInfo
    def __init__(self, credential: _Optional[_Union[CredentialInfo, _Mapping]] = ...) -> None: ...

class CredentialInfo(_message.Message):
    __slots__ = ("id", "provider", "kind", "label", "priority", "state", "cooldown_until_unix_ms", "dead_reason", "last_error_class", "expires_at_unix_ms", "generation")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DEAD_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    kind: CredentialKind
    label: str
    priority: int
    state: CredentialState
    cooldown_until_unix_ms: int
    dead_reason: str
    last_error_class: str
    expires_at_unix_ms: int
    generation: int
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., kind: _Optional[_Union[CredentialKind, str]] = ..., label: _Optional[str] = ..., priority: _Optional[int] = ..., state: _Optional[_Union[CredentialState, str]] = ..., cooldown_until_unix_ms: _Optional[int] = ..., dead_reason: _Optional[str] = ..., last_error_class: _Optional[str] = ..., expires_at_unix_ms: _Optional[int] = ..., generation: _Optional[int] = ...) -> None: ...
