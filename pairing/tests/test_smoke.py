import pytest

from pairing.models import ChatRequestNotification, ChatSession
from realtime.models import PushOutbox

pytestmark = pytest.mark.django_db


def test_blast_and_accept_through_the_api(make_customer, confirmed_payment, online_mitra, api_client_for):
    customer = make_customer(call_name="Ayu")
    mitras = [online_mitra() for _ in range(3)]
    payment = confirmed_payment(customer)
    client = api_client_for(customer)

    assert client.get("/api/client/mitra-availability").json() == {"available": True}
    start = client.post("/api/client/chat/start", {"payment_session_id": str(payment.id), "sensitive": True}, format="json")
    assert start.status_code == 201, start.json()
    body = start.json()
    assert body["status"] == "waiting" and body["blast_timeout_seconds"] == 60
    assert ChatRequestNotification.objects.filter(chat_session_id=body["id"]).count() == 3

    m0 = api_client_for(mitras[0])
    listed = m0.get("/api/mitra/chat-requests").json()
    assert [r["request_id"] for r in listed["results"]] == [body["id"]]
    assert listed["results"][0]["customer"] == {"call_name": "Ayu"}
    accept = m0.post(f"/api/mitra/chat-requests/{body['id']}/accept")
    assert accept.status_code == 200, accept.json()
    late = api_client_for(mitras[1]).post(f"/api/mitra/chat-requests/{body['id']}/accept")
    assert late.status_code == 409 and late.json()["code"] == "request_unavailable"
    assert ChatSession.objects.get(id=body["id"]).status == "active"
    print(PushOutbox.objects.values_list("user_id", "title", "body", "data"))
