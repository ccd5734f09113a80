// Package awsproto speaks the AWS wire protocols the server implements:
// rest-json (EKS, EKS Auth) and query/XML (STS). It holds the one table that
// turns domain error codes into each service's exception names and HTTP
// statuses, so that boto3, the AWS CLI and the Go SDK raise the same
// exception classes they raise against AWS.
package awsproto
