from django.urls import path

from . import views

app_name = "posts"

urlpatterns = [
    path("", views.post_list, name="list"),
    path("<slug:slug>/", views.post_detail, name="detail"),
    path("<slug:slug>/develop/", views.develop, name="develop"),
    path("<slug:slug>/develop/generate/", views.generate_all, name="generate_all"),
    path("<slug:slug>/develop/approve-all/", views.approve_all, name="approve_all"),
    path("<slug:slug>/develop/publish/", views.publish, name="publish"),
    path("<slug:slug>/develop/batches/<int:batch_id>/", views.batch_progress, name="batch_progress"),
    path("<slug:slug>/develop/batches/<int:batch_id>/retry/", views.batch_retry, name="batch_retry"),
    path("<slug:slug>/develop/<slug:slot>/chat/", views.slot_chat, name="slot_chat"),
    path("<slug:slug>/develop/sections/<slug:key>/", views.section_candidates, name="section_candidates"),
    path("<slug:slug>/develop/sections/<slug:key>/prompt/", views.section_prompt_save, name="section_prompt"),
    path("<slug:slug>/develop/sections/<slug:key>/draft/", views.section_draft, name="section_draft"),
    path("<slug:slug>/develop/sections/<slug:key>/improve/", views.section_improve, name="section_improve"),
    path("<slug:slug>/develop/sections/<slug:key>/import/", views.section_prompt_import, name="section_import"),
    path("<slug:slug>/develop/sections/<slug:key>/regenerate/", views.section_regenerate,
         name="section_regenerate"),
    path("<slug:slug>/develop/sections/<slug:key>/retry/", views.section_retry, name="section_retry"),
    path("<slug:slug>/develop/sections/<slug:key>/choose/", views.section_choose, name="section_choose"),
    path("<slug:slug>/develop/sections/<slug:key>/approve/", views.section_approve, name="section_approve"),
]
