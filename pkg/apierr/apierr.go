// Package apierr is the one catalogue of merchant API errors. Every error an
// API client can see has a stable code, an HTTP status and a short title; the
// body is {error, message, code, statusCode}, as in the PayIn Deposits API.
// ledgerd and apid both answer from this catalogue, so a code means the same
// thing wherever it comes from.
package apierr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable error code.
type Code string

// The catalogue.
const (
	DuplicateDepositReference Code = "DUPLICATE_DEPOSIT_REFERENCE"
	NoAvailableAddresses      Code = "NO_AVAILABLE_ADDRESSES"
	DepositReferenceNotFound  Code = "DEPOSIT_REFERENCE_NOT_FOUND"
	DepositNotFound           Code = "DEPOSIT_NOT_FOUND"
	EndpointNotFound          Code = "WEBHOOK_ENDPOINT_NOT_FOUND"
	EventNotFound             Code = "EVENT_NOT_FOUND"
	NotFound                  Code = "NOT_FOUND"
	MethodNotAllowed          Code = "METHOD_NOT_ALLOWED"
	Unauthorized              Code = "UNAUTHORIZED"
	RateLimited               Code = "RATE_LIMITED"
	InvalidJSON               Code = "INVALID_JSON"
	ValidationFailed          Code = "VALIDATION_ERROR"
	InvalidAddress            Code = "INVALID_ADDRESS"
	UnsupportedChain          Code = "UNSUPPORTED_CHAIN"
	UnsupportedCurrency       Code = "UNSUPPORTED_CURRENCY"
	UnsupportedProtocol       Code = "UNSUPPORTED_PROTOCOL"
	TooManyMetadataKeys       Code = "TOO_MANY_METADATA_KEYS"
	ReferenceTooLong          Code = "DEPOSIT_REFERENCE_TOO_LONG"
	InvalidPagination         Code = "INVALID_PAGINATION"
	InvalidParameter          Code = "INVALID_PARAMETER"
	InvalidWebhookURL         Code = "INVALID_WEBHOOK_URL"
	IdempotencyKeyReused      Code = "IDEMPOTENCY_KEY_REUSED"
	PayloadTooLarge           Code = "PAYLOAD_TOO_LARGE"
	AddressUnavailable        Code = "ADDRESS_UNAVAILABLE"
	InvalidDepositReference   Code = "INVALID_DEPOSIT_REFERENCE"
	LimitExceeded             Code = "LIMIT_EXCEEDED"
	UnsupportedMediaType      Code = "UNSUPPORTED_MEDIA_TYPE"
	Unavailable               Code = "SERVICE_UNAVAILABLE"
	Internal                  Code = "INTERNAL_ERROR"
	SessionNotFound           Code = "PAYMENT_SESSION_NOT_FOUND"
	InvalidAmount             Code = "INVALID_AMOUNT"
	RateUnavailable           Code = "RATE_UNAVAILABLE"
	ChainNotEnabled           Code = "CHAIN_NOT_ENABLED"
	APIKeyNotFound            Code = "API_KEY_NOT_FOUND"
	MerchantNotFound          Code = "MERCHANT_NOT_FOUND"
	ChainNotHalted            Code = "CHAIN_NOT_HALTED"
	CannotResume              Code = "CANNOT_RESUME"
	LastAPIKey                Code = "LAST_API_KEY"
	RescanNotFound            Code = "RESCAN_NOT_FOUND"
	RescanRunning             Code = "RESCAN_RUNNING"
)

type entry struct {
	status int
	title  string
}

var catalogue = map[Code]entry{
	DuplicateDepositReference: {http.StatusConflict, "Duplicate deposit reference"},
	NoAvailableAddresses:      {http.StatusServiceUnavailable, "No available addresses"},
	DepositReferenceNotFound:  {http.StatusNotFound, "Deposit reference not found"},
	DepositNotFound:           {http.StatusNotFound, "Deposit not found"},
	SessionNotFound:           {http.StatusNotFound, "Payment session not found"},
	InvalidAmount:             {http.StatusBadRequest, "Invalid amount"},
	RateUnavailable:           {http.StatusBadRequest, "Rate unavailable"},
	ChainNotEnabled:           {http.StatusBadRequest, "Chain not enabled"},
	APIKeyNotFound:            {http.StatusNotFound, "API key not found"},
	MerchantNotFound:          {http.StatusNotFound, "Merchant not found"},
	ChainNotHalted:            {http.StatusConflict, "Chain not halted"},
	CannotResume:              {http.StatusConflict, "Cannot resume"},
	LastAPIKey:                {http.StatusConflict, "Last API key"},
	RescanNotFound:            {http.StatusNotFound, "Rescan not found"},
	RescanRunning:             {http.StatusConflict, "Rescan running"},
	EndpointNotFound:          {http.StatusNotFound, "Webhook endpoint not found"},
	EventNotFound:             {http.StatusNotFound, "Event not found"},
	NotFound:                  {http.StatusNotFound, "Not found"},
	MethodNotAllowed:          {http.StatusMethodNotAllowed, "Method not allowed"},
	Unauthorized:              {http.StatusUnauthorized, "Unauthorized"},
	RateLimited:               {http.StatusTooManyRequests, "Too many requests"},
	InvalidJSON:               {http.StatusBadRequest, "Malformed JSON"},
	ValidationFailed:          {http.StatusBadRequest, "Validation failed"},
	InvalidAddress:            {http.StatusBadRequest, "Invalid address"},
	UnsupportedChain:          {http.StatusBadRequest, "Unsupported chain"},
	UnsupportedCurrency:       {http.StatusBadRequest, "Unsupported currency"},
	UnsupportedProtocol:       {http.StatusBadRequest, "Unsupported protocol"},
	TooManyMetadataKeys:       {http.StatusBadRequest, "Too many metadata keys"},
	ReferenceTooLong:          {http.StatusBadRequest, "Deposit reference too long"},
	InvalidPagination:         {http.StatusBadRequest, "Invalid pagination"},
	InvalidParameter:          {http.StatusBadRequest, "Invalid parameter"},
	InvalidWebhookURL:         {http.StatusBadRequest, "Invalid webhook URL"},
	IdempotencyKeyReused:      {http.StatusUnprocessableEntity, "Idempotency key reused with another request"},
	PayloadTooLarge:           {http.StatusRequestEntityTooLarge, "Payload too large"},
	AddressUnavailable:        {http.StatusConflict, "Address unavailable"},
	InvalidDepositReference:   {http.StatusBadRequest, "Invalid deposit reference"},
	LimitExceeded:             {http.StatusConflict, "Limit exceeded"},
	UnsupportedMediaType:      {http.StatusUnsupportedMediaType, "Unsupported media type"},
	Unavailable:               {http.StatusServiceUnavailable, "Service unavailable"},
	Internal:                  {http.StatusInternalServerError, "Internal error"},
}

// Codes lists the catalogue, for the OpenAPI document.
func Codes() map[Code]int {
	out := map[Code]int{}
	for c, e := range catalogue {
		out[c] = e.status
	}
	return out
}

// Error is an API error.
type Error struct {
	Title      string `json:"error"`
	Message    string `json:"message"`
	Code       Code   `json:"code"`
	StatusCode int    `json:"statusCode"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// New makes an error of a catalogued code.
func New(code Code, format string, args ...any) *Error {
	e, ok := catalogue[code]
	if !ok {
		e = catalogue[Internal]
		code = Internal
	}
	return &Error{Title: e.title, Message: fmt.Sprintf(format, args...), Code: code, StatusCode: e.status}
}

// From turns any error into an API error; errors outside the catalogue are
// internal and their text is not shown.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return New(Internal, "internal error")
}

// Write sends err as the JSON error body.
func Write(w http.ResponseWriter, err error) {
	e := From(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.StatusCode)
	json.NewEncoder(w).Encode(e)
}
