// Package server assembles the podidentity HTTP listener: one mux that routes
// AWS protocol requests by path to the EKS pod identity association API,
// EKS Auth and STS, plus health probes, with the middleware every request
// passes through (request ids, panics turned into AWS errors, access logs).
// Handlers only translate between the wire and the podidentity domain.
package server
