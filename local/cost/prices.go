package cost

// AWS list prices, us-east-1, on-demand, as published on the AWS pricing pages on
// PricesDate. Free tiers are ignored (they only lower the bill). Update the constants and the
// date together.
const (
	PricesDate = "2025-06-01"

	// DynamoDB on-demand (Standard table class), per request unit.
	DynamoDBWriteUnit = 0.625 / 1e6 // $ per write request unit
	DynamoDBReadUnit  = 0.125 / 1e6 // $ per read request unit
	// DynamoDB storage (Standard table class), $ per GB-month (first 25 GB free).
	DynamoDBStorageGBMonth = 0.25

	// SQS FIFO queues, $ per request (first 1 million a month free; every 64 KB chunk of a
	// payload is one request).
	SQSFIFORequest = 0.50 / 1e6

	// Lambda on arm64 (Graviton): $ per request and per GB-second.
	LambdaRequest     = 0.20 / 1e6
	LambdaARMGBSecond = 0.0000133334

	// API Gateway HTTP API: $ per request (first 300 million a month; 512 KB increments).
	HTTPAPIRequest = 1.00 / 1e6

	// CloudWatch Logs: ingestion (Standard log class), $ per GB.
	LogsIngestGB = 0.50

	// Secrets Manager: $ per secret-month and per API call. The functions read their one
	// secret at cold start and then every 5 minutes at most.
	SecretMonth   = 0.40
	SecretAPICall = 0.05 / 10000
)

// Dollars is the cost of one event (or reply part) by service.
type Dollars struct {
	DynamoDB, SQS, Lambda, HTTPAPI, Logs float64
}

// Total sums every service.
func (d Dollars) Total() float64 { return d.DynamoDB + d.SQS + d.Lambda + d.HTTPAPI + d.Logs }

// Scale multiplies every service by f.
func (d Dollars) Scale(f float64) Dollars {
	return Dollars{d.DynamoDB * f, d.SQS * f, d.Lambda * f, d.HTTPAPI * f, d.Logs * f}
}

// Add adds o.
func (d Dollars) Add(o Dollars) Dollars {
	return Dollars{d.DynamoDB + o.DynamoDB, d.SQS + o.SQS, d.Lambda + o.Lambda, d.HTTPAPI + o.HTTPAPI, d.Logs + o.Logs}
}

// PerEvent prices what a phase used, divided by its events. Empty receives of the event
// source mapping are a fixed cost of the queue and are left out (see FixedMonthly).
func PerEvent(u *Usage) Dollars {
	if u == nil || u.Events == 0 {
		return Dollars{}
	}
	var d Dollars
	for _, op := range u.DynamoDB {
		d.DynamoDB += (op.WriteUnits+op.IndexUnits)*DynamoDBWriteUnit + op.ReadUnits*DynamoDBReadUnit
	}
	for _, op := range u.SQS {
		d.SQS += float64(op.Calls) * SQSFIFORequest
	}
	for _, l := range u.Lambda {
		d.Lambda += float64(l.Invocations)*LambdaRequest + float64(l.BilledMS)/1000*float64(l.MemoryMB)/1024*LambdaARMGBSecond
	}
	d.HTTPAPI = float64(u.HTTPRequests) * HTTPAPIRequest
	var logs int64
	for _, b := range u.LogBytes {
		logs += b
	}
	d.Logs = float64(logs) / (1 << 30) * LogsIngestGB
	return d.Scale(1 / float64(u.Events))
}

// Idle event source mapping polling: Lambda long-polls the queue (20 s) with a few pollers
// whether or not messages arrive. Five pollers are assumed (AWS does not publish the number
// for FIFO queues).
const (
	IdlePollers        = 5
	IdleReceivesPerDay = IdlePollers * 86400 / 20
)

// WarmContainers: function instances assumed warm around the clock, each re-reading the
// secret every 5 minutes.
const WarmContainers = 5

// FixedMonthly is what the stack costs in a 30-day month with no traffic: the idle polls,
// the secret and its reads, and the refresher (4 runs a day, a few requests each; under a
// cent, left out).
func FixedMonthly() float64 {
	secretReads := float64(WarmContainers * 12 * 24 * 30)
	return float64(IdleReceivesPerDay*30)*SQSFIFORequest + SecretMonth + secretReads*SecretAPICall
}
