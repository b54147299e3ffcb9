package cost

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Mix is a business's day: how many events of each kind per day.
type Mix map[string]float64

// BusinessDay: 10,000 inbound messages a day (8,500 texts from known contacts, 1,000
// attachments, 500 first messages of new contacts), one reply part for every two inbound
// messages, each read by the customer, a reaction per 20 messages, 500 messages written in
// the Instagram app (echoes), 5 % of Meta's deliveries retried within 5 minutes and 1 % later.
var BusinessDay = Mix{
	PhaseText: 8500, PhaseAttachment: 1000, PhaseNewContact: 500,
	PhaseReplyPart: 5000, PhaseRead: 5000, PhaseReaction: 500, PhaseEcho: 500,
	PhaseDupWindow: 500, PhaseDupStore: 100,
}

// InboundPerDay is the number of inbound messages of BusinessDay.
const InboundPerDay = 10000

// Write renders the report as Markdown.
func Write(w io.Writer, r *Result) {
	rec := r.Recorder
	fmt.Fprintf(w, "## Measured units per event\n\n")
	fmt.Fprintf(w, "| kind | events | DynamoDB round trips | RCU | WCU table | WCU index | SQS requests | Lambda invocations | Lambda billed ms | HTTP API requests | Graph calls | log bytes |\n")
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, p := range Phases {
		u := rec.Usage(p)
		if u == nil || u.Events == 0 {
			continue
		}
		n := float64(u.Events)
		var rt, rcu, wcu, icu float64
		for _, op := range u.DynamoDB {
			rt += float64(op.Calls)
			rcu += op.ReadUnits
			wcu += op.WriteUnits
			icu += op.IndexUnits
		}
		var sqsReq, inv, ms, graph, logs float64
		for _, op := range u.SQS {
			sqsReq += float64(op.Calls)
		}
		for _, l := range u.Lambda {
			inv += float64(l.Invocations)
			ms += float64(l.BilledMS)
		}
		for _, c := range u.Graph {
			graph += float64(c)
		}
		for _, b := range u.LogBytes {
			logs += float64(b)
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f | %.2f | %.0f |\n",
			p, u.Events, rt/n, rcu/n, wcu/n, icu/n, sqsReq/n, inv/n, ms/n, float64(u.HTTPRequests)/n, graph/n, logs/n)
	}
	fmt.Fprintf(w, "\n## Operations per event\n\n| kind | DynamoDB | SQS | Lambda (invocations, billed ms) | Graph | log bytes |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, p := range Phases {
		u := rec.Usage(p)
		if u == nil || u.Events == 0 {
			continue
		}
		n := float64(u.Events)
		var ddb, sq, lam, gr, lg []string
		for _, k := range sortedKeys(u.DynamoDB) {
			op := u.DynamoDB[k]
			s := fmt.Sprintf("%s ×%.2f (%.2f CU", k, float64(op.Calls)/n, (op.ReadUnits+op.WriteUnits+op.IndexUnits)/n)
			if op.IndexUnits > 0 {
				s += fmt.Sprintf(", %.2f on indexes", op.IndexUnits/n)
			}
			if op.Failed > 0 {
				s += fmt.Sprintf(", %.2f failed", float64(op.Failed)/n)
			}
			ddb = append(ddb, s+")")
		}
		for _, k := range sortedKeys(u.SQS) {
			op := u.SQS[k]
			sq = append(sq, fmt.Sprintf("%s ×%.2f (%.2f messages)", k, float64(op.Calls)/n, float64(op.Entries)/n))
		}
		for _, k := range sortedKeys(u.Lambda) {
			l := u.Lambda[k]
			lam = append(lam, fmt.Sprintf("%s ×%.2f, %.1f ms", k, float64(l.Invocations)/n, float64(l.BilledMS)/n))
		}
		for _, k := range sortedKeys(u.Graph) {
			gr = append(gr, fmt.Sprintf("%s ×%.2f", k, float64(u.Graph[k])/n))
		}
		for _, k := range sortedKeys(u.LogBytes) {
			lg = append(lg, fmt.Sprintf("%s %.0f", k, float64(u.LogBytes[k])/n))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", p, join(ddb), join(sq), join(lam), join(gr), join(lg))
	}

	fmt.Fprintf(w, "\n## Dollars per million (AWS list prices of %s)\n\n", PricesDate)
	fmt.Fprintf(w, "| kind | DynamoDB | SQS | Lambda | HTTP API | Logs | total |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, p := range Phases {
		u := rec.Usage(p)
		if u == nil || u.Events == 0 {
			continue
		}
		d := PerEvent(u).Scale(1e6)
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | **%.2f** |\n", p, d.DynamoDB, d.SQS, d.Lambda, d.HTTPAPI, d.Logs, d.Total())
	}

	day := Dollars{}
	var kinds []string
	for k := range BusinessDay {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		day = day.Add(PerEvent(rec.Usage(k)).Scale(BusinessDay[k]))
	}
	month := day.Scale(30)
	fixed := FixedMonthly()
	perInbound := day.Scale(1e6 / InboundPerDay)
	fmt.Fprintf(w, "\n## A business receiving %d messages a day\n\n", InboundPerDay)
	fmt.Fprintf(w, "Mix per day: %s.\n\n", mixText())
	fmt.Fprintf(w, "| | DynamoDB | SQS | Lambda | HTTP API | Logs | total |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(w, "| per 30-day month | %.2f | %.2f | %.2f | %.2f | %.2f | **%.2f** (+ %.2f fixed: idle polling, the secret) |\n",
		month.DynamoDB, month.SQS, month.Lambda, month.HTTPAPI, month.Logs, month.Total(), fixed)
	fmt.Fprintf(w, "| per million inbound messages, all-in (replies, reads, reactions, echoes, retries included) | %.2f | %.2f | %.2f | %.2f | %.2f | **%.2f** |\n",
		perInbound.DynamoDB, perInbound.SQS, perInbound.Lambda, perInbound.HTTPAPI, perInbound.Logs, perInbound.Total())
	text := PerEvent(rec.Usage(PhaseText)).Scale(1e6).Total()
	fmt.Fprintf(w, "\nGoal ≤ $5 per million inbound messages: steady-state text **$%.2f** per million (%s); all-in with the mix above **$%.2f** per million inbound messages (%s).\n",
		text, verdict(text), perInbound.Total(), verdict(perInbound.Total()))
}

func verdict(v float64) string {
	if v <= 5 {
		return "meets it"
	}
	return "misses it"
}

func mixText() string {
	var parts []string
	for _, p := range Phases {
		if n := BusinessDay[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%.0f %s", n, p))
		}
	}
	return strings.Join(parts, ", ")
}

func join(s []string) string {
	if len(s) == 0 {
		return "–"
	}
	return strings.Join(s, "; ")
}
